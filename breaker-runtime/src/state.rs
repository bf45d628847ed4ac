//! The breaker's state and the single atomic word that holds it.
//!
//! Everything a call needs to decide (state, counters, whether a probe is out, and the
//! generation) lives in one `u64`, so a closed-state call is a load to be admitted and a
//! load to record its success, and every transition is one compare-and-swap: no lock,
//! and no moment where two fields disagree.

use std::fmt;

/// The three states of a circuit breaker.
///
/// ```text
///            fail_max consecutive failures
///   Closed ─────────────────────────────────▶ Open
///     ▲                                      │  ▲
///     │ success_threshold        reset_timeout│  │ probe fails
///     │ probe successes                       ▼  │
///     └─────────────────────────────────── HalfOpen
/// ```
///
/// `Display` writes the names used in logs, metrics, the admin JSON and the fleet's
/// records alike: `closed`, `open`, `half_open` (one spelling everywhere, as
/// Resilience4j's `half_open` and the `tracing` attributes have it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls flow; consecutive failures are counted.
    Closed,
    /// Calls are rejected at once until `reset_timeout` has passed since the breaker opened.
    Open,
    /// One probe call at a time is let through to test the dependency.
    HalfOpen,
}

impl State {
    /// The state's number: 0 closed, 1 open, 2 half-open. It is both the state's bits in
    /// the word and the value of the `circuit_breaker_state` gauge.
    #[inline(always)]
    pub(crate) const fn number(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
        }
    }

    /// The name used in logs, metrics and `Display`: `closed`, `open` or `half_open`.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

/// A breaker's state as its observers name it: the state, or the sticky mode that holds
/// it (a forced-open breaker's state is open, a disabled one's closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Closed,
    Open,
    HalfOpen,
    ForcedOpen,
    Disabled,
}

impl Phase {
    /// Every phase, each at the place its discriminant says.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) const ALL: [Phase; 5] = [
        Phase::Closed,
        Phase::Open,
        Phase::HalfOpen,
        Phase::ForcedOpen,
        Phase::Disabled,
    ];

    /// `closed`, `open`, `half_open`, `forced_open` or `disabled`: the values of the
    /// `circuit_breaker.state` attribute.
    #[cfg_attr(
        not(any(feature = "tracing", feature = "axum", feature = "metrics")),
        allow(dead_code)
    )]
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Phase::Closed => "closed",
            Phase::Open => "open",
            Phase::HalfOpen => "half_open",
            Phase::ForcedOpen => "forced_open",
            Phase::Disabled => "disabled",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

// Layout of the word, low bits first:
//   state 2 | forced open 1 | disabled 1 | listening 1 | fleet 1 | counted 1 | timed 1 |
//   throttling 1 | failures 16 | successes 12 | probes in flight 8 | generation 19
const STATE_MASK: u64 = 0b11;
/// Sticky modes set by `force_open()` and `disable()`; cleared by the manual transitions.
const FORCED_OPEN: u64 = 1 << 2;
const DISABLED: u64 = 1 << 3;
/// Listeners are attached (the breaker's own, or global ones): calls take the slow path
/// that tells them. Kept in the word so that the fast path learns it from the load it
/// makes anyway.
const LISTENING: u64 = 1 << 4;
/// The open (or half-open) state came from the fleet: its probe is the fleet's to grant.
const FLEET: u64 = 1 << 5;
/// Every outcome is recorded, successes included (a rate policy's window): a closed
/// success is never quiet. Set at build and never changed, so a consecutive breaker's
/// fast path tests it for free, in the mask it applies anyway.
const COUNTED: u64 = 1 << 6;
/// Admission reads the clock (slow calls are measured): a closed admission is never
/// quiet. Set at build and never changed.
const TIMED: u64 = 1 << 7;
/// The throttle refuses calls at random (its probability is above zero): a closed
/// admission is never quiet. Set and cleared as the probability leaves and reaches
/// zero, and cleared by every change of state; never set on a breaker without a
/// throttle, whose admission therefore tests it for free, in the mask it applies anyway.
const THROTTLING: u64 = 1 << 8;
const FAIL_SHIFT: u32 = 9;
const FAIL_BITS: u32 = 16;
const SUCC_SHIFT: u32 = FAIL_SHIFT + FAIL_BITS;
const SUCC_BITS: u32 = 12;
const FLIGHT_SHIFT: u32 = SUCC_SHIFT + SUCC_BITS;
const FLIGHT_BITS: u32 = 8;
const GEN_SHIFT: u32 = FLIGHT_SHIFT + FLIGHT_BITS;
/// The generation's width; a permit carries all of it.
pub(crate) const GEN_BITS: u32 = 64 - GEN_SHIFT;
const GEN_MASK: u64 = u64::MAX << GEN_SHIFT;
const FLIGHT_MASK: u64 = ((1 << FLIGHT_BITS) - 1) << FLIGHT_SHIFT;
const COUNTERS: u64 = ((1 << (FAIL_BITS + SUCC_BITS + FLIGHT_BITS)) - 1) << FAIL_SHIFT;
/// The successes and probes in flight: what a half-open period counts.
const PROBE_COUNTERS: u64 = ((1 << (SUCC_BITS + FLIGHT_BITS)) - 1) << SUCC_SHIFT;

/// The largest `fail_max` the packed counter can hold.
pub(crate) const MAX_FAIL_MAX: u32 = (1 << FAIL_BITS) - 1;
/// The largest `success_threshold` the packed counter can hold.
pub(crate) const MAX_SUCCESS_THRESHOLD: u32 = (1 << SUCC_BITS) - 1;
/// The most probes a half-open breaker lets through together.
pub(crate) const MAX_PROBES: u32 = (1 << FLIGHT_BITS) - 1;

const CLOSED: u64 = State::Closed.number();
const OPEN: u64 = State::Open.number();

/// A snapshot of the packed state word.
///
/// The generation changes on every state change and on every grant of a half-open probe,
/// so a permit can tell whether the state it was admitted under still holds (gobreaker's
/// rule: results from an earlier generation are discarded). It is 19 bits wide: a permit
/// would have to stay out across 524,288 transitions for a stale result to be taken
/// for a current one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    /// A closed breaker with clean counters, generation 0, no listeners, whose
    /// consecutive failures are counted in the word.
    #[cfg(test)]
    pub(crate) const INITIAL: Word = Word(CLOSED);

    /// A new breaker's word: `counted` when every outcome goes to a rate window, `timed`
    /// when admission must read the clock.
    pub(crate) const fn initial(counted: bool, timed: bool) -> Word {
        let mut bits = CLOSED;
        if counted {
            bits |= COUNTED;
        }
        if timed {
            bits |= TIMED;
        }
        Word(bits)
    }

    /// True for a closed breaker with no failure counted, no sticky mode, no listener
    /// and no window to feed: a success has nothing to do. One mask and one compare.
    #[inline(always)]
    pub(crate) fn is_quiet_closed(self) -> bool {
        self.0 & !GEN_MASK == 0
    }

    /// True for a closed breaker of `generation` whose window counts every outcome, with
    /// no sticky mode, no listener and no call to time: a success only adds to the
    /// window (throttling or not).
    #[inline(always)]
    pub(crate) fn counts_plainly(self, generation: u32) -> bool {
        // Everything but the probe counters and the throttle's flag at once: closed, no
        // failure counted (a rate policy leaves the field unused while closed; a
        // throttle with consecutive failures counts them there, and a success must
        // reset them), no mode, no listener, counted, untimed, this generation.
        self.0 & !(PROBE_COUNTERS | THROTTLING) == COUNTED | (u64::from(generation) << GEN_SHIFT)
    }

    /// True for a closed breaker with no listener, no call to time and no throttling: a
    /// call is admitted with nothing to do.
    #[inline(always)]
    pub(crate) fn admits_quietly(self) -> bool {
        self.0 & (STATE_MASK | LISTENING | TIMED | THROTTLING) == CLOSED
    }

    /// Whether it is closed, and whether the throttle refuses calls: from one mask, so
    /// that the closed case not throttling is one test.
    #[inline(always)]
    pub(crate) fn closed_and_throttling(self) -> (bool, bool) {
        match self.0 & (STATE_MASK | THROTTLING) {
            CLOSED => (true, false),
            THROTTLING => (true, true),
            _ => (false, false),
        }
    }

    /// The throttle refuses calls at random.
    #[inline]
    pub(crate) fn is_throttling(self) -> bool {
        self.0 & THROTTLING != 0
    }

    pub(crate) fn with_throttling(self, on: bool) -> Word {
        self.with_bit(THROTTLING, on)
    }

    /// Calls' durations are measured (slow calls count).
    #[inline]
    pub(crate) fn is_timed(self) -> bool {
        self.0 & TIMED != 0
    }

    /// Every outcome goes to a rate window.
    #[inline]
    pub(crate) fn is_counted(self) -> bool {
        self.0 & COUNTED != 0
    }

    #[inline(always)]
    pub(crate) fn state(self) -> State {
        match self.0 & STATE_MASK {
            CLOSED => State::Closed,
            OPEN => State::Open,
            _ => State::HalfOpen,
        }
    }

    /// Half-open probes let through and not yet recorded.
    #[inline]
    pub(crate) fn in_flight(self) -> u32 {
        ((self.0 & FLIGHT_MASK) >> FLIGHT_SHIFT) as u32
    }

    #[inline]
    pub(crate) fn failures(self) -> u32 {
        ((self.0 >> FAIL_SHIFT) & u64::from(MAX_FAIL_MAX)) as u32
    }

    #[inline]
    pub(crate) fn successes(self) -> u32 {
        ((self.0 >> SUCC_SHIFT) & u64::from(MAX_SUCCESS_THRESHOLD)) as u32
    }

    #[inline(always)]
    pub(crate) fn generation(self) -> u32 {
        (self.0 >> GEN_SHIFT) as u32
    }

    #[inline]
    pub(crate) fn is_forced_open(self) -> bool {
        self.0 & FORCED_OPEN != 0
    }

    #[inline]
    pub(crate) fn is_disabled(self) -> bool {
        self.0 & DISABLED != 0
    }

    /// The state as observers name it, sticky modes included.
    pub(crate) fn phase(self) -> Phase {
        if self.is_forced_open() {
            return Phase::ForcedOpen;
        }
        if self.is_disabled() {
            return Phase::Disabled;
        }
        match self.state() {
            State::Closed => Phase::Closed,
            State::Open => Phase::Open,
            State::HalfOpen => Phase::HalfOpen,
        }
    }

    #[inline(always)]
    pub(crate) fn is_listening(self) -> bool {
        self.0 & LISTENING != 0
    }

    /// True while the open (or half-open) state is the fleet's: its probe is granted by
    /// the fleet, not by this replica's clock.
    #[inline]
    pub(crate) fn defers_to_fleet(self) -> bool {
        self.0 & FLEET != 0
    }

    pub(crate) fn with_fleet(self, on: bool) -> Word {
        self.with_bit(FLEET, on)
    }

    fn with_bit(self, bit: u64, on: bool) -> Word {
        if on {
            Word(self.0 | bit)
        } else {
            Word(self.0 & !bit)
        }
    }

    /// The same word in `state`, with the next generation, no probe out and no
    /// throttling (its window starts over). Closing ends the fleet's hold, and a
    /// counted breaker's counters (its probes' tally: closed, it counts in its window).
    pub(crate) fn enter(self, state: State) -> Word {
        let bits = state.number();
        let generation = (u64::from(self.generation()) + 1) & ((1 << GEN_BITS) - 1);
        let closing = match state {
            State::Closed if self.is_counted() => FLEET | COUNTERS,
            State::Closed => FLEET,
            _ => 0,
        };
        let kept = self.0 & !(STATE_MASK | FLIGHT_MASK | GEN_MASK | THROTTLING) & !closing;
        Word(kept | bits | (generation << GEN_SHIFT))
    }

    /// The same word with every counter cleared (failures, successes, probes).
    pub(crate) fn without_counters(self) -> Word {
        Word(self.0 & !COUNTERS)
    }

    /// A manual transition to `state`: the sticky modes end, and the generation moves
    /// on only if the state changes (a breaker opened again stays in its generation, so
    /// the calls it admitted still report).
    pub(crate) fn moved_to(self, state: State) -> Word {
        let word = self.without_sticky_modes();
        if word.state() == state {
            word
        } else {
            word.enter(state)
        }
    }

    /// The same word without the sticky modes.
    pub(crate) fn without_sticky_modes(self) -> Word {
        Word(self.0 & !(FORCED_OPEN | DISABLED))
    }

    /// Open until released, with no probes.
    pub(crate) fn forced_open(self) -> Word {
        Word(self.without_sticky_modes().enter(State::Open).0 | FORCED_OPEN)
    }

    /// Closed, admitting every call and counting none, until released.
    pub(crate) fn disabled(self) -> Word {
        Word(self.without_sticky_modes().enter(State::Closed).0 | DISABLED)
    }

    /// One more probe out. Every probe of a half-open period shares its generation,
    /// so each can report; reopening (a failed or timed-out probe) moves it on.
    pub(crate) fn with_probe_granted(self) -> Word {
        let n = u64::from((self.in_flight() + 1).min(MAX_PROBES));
        Word((self.0 & !FLIGHT_MASK) | (n << FLIGHT_SHIFT))
    }

    /// One probe fewer out.
    pub(crate) fn with_probe_released(self) -> Word {
        let n = u64::from(self.in_flight().saturating_sub(1));
        Word((self.0 & !FLIGHT_MASK) | (n << FLIGHT_SHIFT))
    }

    /// The word entering (or restarting) a half-open period: no probe recorded yet. A
    /// rate policy's probe tally lives in the failure field, so it starts over too; a
    /// consecutive breaker keeps its failure count there (pybreaker's).
    pub(crate) fn with_fresh_probe_tally(self) -> Word {
        let word = self.with_successes(0);
        if word.is_counted() {
            word.with_failures(0)
        } else {
            word
        }
    }

    /// A half-open word reopening: a failed probe, one more consecutive failure (a rate
    /// policy counts its failures in its window, not here).
    pub(crate) fn reopened(self) -> Word {
        let failures = if self.is_counted() {
            0
        } else {
            self.failures().saturating_add(1)
        };
        self.with_failures(failures)
            .with_successes(0)
            .enter(State::Open)
    }

    /// A rate policy's half-open tally, kept in the failure counter's bits (a rate
    /// policy counts its closed-state failures in its window, not in the word): failed
    /// probes in the low half, slow probes in the high half.
    pub(crate) fn probe_failures(self) -> u32 {
        self.failures() & 0xff
    }

    pub(crate) fn slow_probes(self) -> u32 {
        self.failures() >> 8
    }

    pub(crate) fn with_probe_tally(self, failures: u32, slow: u32) -> Word {
        self.with_failures(failures.min(0xff) | (slow.min(0xff) << 8))
    }

    /// The listening bit as a mask to set or clear with one atomic operation.
    pub(crate) const LISTENING: u64 = LISTENING;

    pub(crate) fn with_listening(self, on: bool) -> Word {
        self.with_bit(LISTENING, on)
    }

    /// Counters saturate at their field's maximum instead of spilling into the next field.
    pub(crate) fn with_failures(self, n: u32) -> Word {
        let n = u64::from(n.min(MAX_FAIL_MAX));
        Word((self.0 & !(u64::from(MAX_FAIL_MAX) << FAIL_SHIFT)) | (n << FAIL_SHIFT))
    }

    pub(crate) fn with_successes(self, n: u32) -> Word {
        let n = u64::from(n.min(MAX_SUCCESS_THRESHOLD));
        Word((self.0 & !(u64::from(MAX_SUCCESS_THRESHOLD) << SUCC_SHIFT)) | (n << SUCC_SHIFT))
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Word")
            .field("state", &self.state())
            .field("in_flight", &self.in_flight())
            .field("failures", &self.failures())
            .field("successes", &self.successes())
            .field("generation", &self.generation())
            .field("forced_open", &self.is_forced_open())
            .field("disabled", &self.is_disabled())
            .field("listening", &self.is_listening())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_overlap() {
        let mut w = Word::initial(true, true)
            .with_failures(MAX_FAIL_MAX)
            .with_successes(MAX_SUCCESS_THRESHOLD)
            .enter(State::HalfOpen);
        for _ in 0..=MAX_PROBES {
            w = w.with_probe_granted();
        }
        assert_eq!(w.state(), State::HalfOpen);
        assert_eq!(w.in_flight(), MAX_PROBES, "saturates");
        assert_eq!(w.failures(), MAX_FAIL_MAX);
        assert_eq!(w.successes(), MAX_SUCCESS_THRESHOLD);
        assert_eq!(w.generation(), 1);
        assert!(w.is_counted() && w.is_timed());
        let w = w.with_probe_released().with_failures(0).with_successes(0);
        assert_eq!(
            (w.failures(), w.successes(), w.in_flight()),
            (0, 0, MAX_PROBES - 1)
        );
        assert_eq!(w.generation(), 1);
        let w = w.with_probe_tally(300, 7);
        assert_eq!((w.probe_failures(), w.slow_probes()), (255, 7));
        let w = w.without_counters();
        assert_eq!((w.failures(), w.successes(), w.in_flight()), (0, 0, 0));
        assert!(w.is_counted() && w.is_timed() && w.state() == State::HalfOpen);
    }

    #[test]
    fn counters_saturate_instead_of_corrupting_neighbours() {
        let w = Word::INITIAL
            .with_failures(u32::MAX)
            .with_successes(u32::MAX);
        assert_eq!(w.failures(), MAX_FAIL_MAX);
        assert_eq!(w.successes(), MAX_SUCCESS_THRESHOLD);
        assert_eq!(w.generation(), 0);
        assert_eq!(w.state(), State::Closed);
    }

    #[test]
    fn generation_wraps_within_its_field() {
        let mut w = Word(((1u64 << GEN_BITS) - 1) << GEN_SHIFT);
        assert_eq!(w.generation(), (1 << GEN_BITS) - 1);
        w = w.enter(State::Open);
        assert_eq!(w.generation(), 0);
        assert_eq!(w.state(), State::Open);
    }

    #[test]
    fn only_a_closed_word_with_nothing_to_do_is_quiet() {
        assert!(Word::INITIAL.is_quiet_closed());
        assert!(Word::INITIAL.enter(State::Closed).is_quiet_closed());
        assert!(!Word::INITIAL.with_failures(1).is_quiet_closed());
        assert!(!Word::INITIAL.enter(State::Open).is_quiet_closed());
        assert!(!Word::INITIAL.enter(State::HalfOpen).is_quiet_closed());
        assert!(!Word::INITIAL.disabled().is_quiet_closed());
        assert!(!Word::INITIAL.with_listening(true).is_quiet_closed());
        assert!(Word::INITIAL.with_failures(3).admits_quietly());
        assert!(!Word::INITIAL.with_listening(true).admits_quietly());
        assert!(!Word::initial(true, false).is_quiet_closed());
        assert!(Word::initial(true, false).admits_quietly());
        assert!(!Word::initial(false, true).admits_quietly());
        assert!(!Word::INITIAL.enter(State::Open).admits_quietly());
    }

    #[test]
    fn the_fleets_hold_survives_reopening_and_ends_with_closing() {
        let w = Word::INITIAL.enter(State::Open).with_fleet(true);
        assert!(w.with_probe_granted().enter(State::Open).defers_to_fleet());
        assert!(!w.enter(State::Closed).defers_to_fleet());
        assert!(!w.moved_to(State::Closed).defers_to_fleet());
    }

    #[test]
    fn transitions_keep_the_listening_bit() {
        let w = Word::INITIAL.with_listening(true);
        assert!(w.enter(State::Open).forced_open().disabled().is_listening());
        assert!(w.with_probe_granted().with_probe_released().is_listening());
        assert!(!w.with_listening(false).is_listening());
    }

    /// A word built from its parts through the word's own methods, and what each part
    /// should make of it, worked out from the parts (not from the bits).
    #[derive(Clone, Copy, Debug)]
    struct Parts {
        state: State,
        counted: bool,
        timed: bool,
        listening: bool,
        fleet: bool,
        throttling: bool,
        mode: Mode,
        failures: u32,
        generation: u32,
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Mode {
        None,
        ForcedOpen,
        Disabled,
    }

    impl Parts {
        fn word(self) -> Word {
            let mut w = Word::initial(self.counted, self.timed);
            for _ in 0..self.generation {
                w = w.enter(State::Closed);
            }
            w = match (self.mode, self.state) {
                (Mode::ForcedOpen, _) => w.forced_open(),
                (Mode::Disabled, _) => w.disabled(),
                (Mode::None, State::Closed) => w,
                (Mode::None, state) => w.enter(state),
            };
            w.with_listening(self.listening)
                .with_fleet(self.fleet)
                .with_throttling(self.throttling)
                .with_failures(self.failures)
        }

        /// Its generation once built (each `enter`, and a sticky mode's, moves it on).
        fn built_generation(self) -> u32 {
            self.generation + u32::from(self.mode != Mode::None || self.state != State::Closed)
        }
    }

    fn every_parts() -> Vec<Parts> {
        let mut all = Vec::new();
        let flags = [false, true];
        for state in [State::Closed, State::Open, State::HalfOpen] {
            for mode in [Mode::None, Mode::ForcedOpen, Mode::Disabled] {
                if mode == Mode::ForcedOpen && state != State::Open
                    || mode == Mode::Disabled && state != State::Closed
                {
                    continue;
                }
                for bits in 0..32u32 {
                    let flag = |n: u32| flags[((bits >> n) & 1) as usize];
                    for failures in [0, 3] {
                        for generation in [0, 2] {
                            all.push(Parts {
                                state,
                                counted: flag(0),
                                timed: flag(1),
                                listening: flag(2),
                                fleet: flag(3),
                                throttling: flag(4),
                                mode,
                                failures,
                                generation,
                            });
                        }
                    }
                }
            }
        }
        all
    }

    #[test]
    fn every_question_the_word_answers_matches_its_parts() {
        for p in every_parts() {
            let w = p.word();
            let at = format!("{p:?} -> {w:?}");
            let closed = p.state == State::Closed;
            let quiet_mode = p.mode == Mode::None;
            assert_eq!(w.state(), p.state, "{at}");
            assert_eq!(w.generation(), p.built_generation(), "{at}");
            assert_eq!(w.failures(), p.failures, "{at}");
            assert_eq!(w.is_counted(), p.counted, "{at}");
            assert_eq!(w.is_timed(), p.timed, "{at}");
            assert_eq!(w.is_listening(), p.listening, "{at}");
            assert_eq!(w.defers_to_fleet(), p.fleet, "{at}");
            assert_eq!(w.is_throttling(), p.throttling, "{at}");
            assert_eq!(w.is_forced_open(), p.mode == Mode::ForcedOpen, "{at}");
            assert_eq!(w.is_disabled(), p.mode == Mode::Disabled, "{at}");
            let phase = match (p.mode, p.state) {
                (Mode::ForcedOpen, _) => Phase::ForcedOpen,
                (Mode::Disabled, _) => Phase::Disabled,
                (_, State::Closed) => Phase::Closed,
                (_, State::Open) => Phase::Open,
                (_, State::HalfOpen) => Phase::HalfOpen,
            };
            assert_eq!(w.phase(), phase, "{at}");
            assert_eq!(
                w.is_quiet_closed(),
                closed
                    && quiet_mode
                    && !p.counted
                    && !p.timed
                    && !p.listening
                    && !p.fleet
                    && !p.throttling
                    && p.failures == 0,
                "{at}"
            );
            assert_eq!(
                w.admits_quietly(),
                closed && !p.timed && !p.listening && !p.throttling,
                "{at}"
            );
            assert_eq!(
                w.closed_and_throttling(),
                (closed, closed && p.throttling),
                "{at}"
            );
            let g = p.built_generation();
            let plain = closed
                && quiet_mode
                && p.counted
                && !p.timed
                && !p.listening
                && !p.fleet
                && p.failures == 0;
            assert_eq!(w.counts_plainly(g), plain, "{at}");
            assert!(!w.counts_plainly(g + 1), "another generation: {at}");
            // The probe counters never make a success less plain.
            let probing = w.with_successes(5).with_probe_granted();
            assert_eq!(probing.counts_plainly(g), plain, "{at}");
        }
    }

    #[test]
    fn entering_a_state_moves_the_generation_on_and_clears_what_it_must() {
        let w = Word::INITIAL.enter(State::Open).enter(State::HalfOpen);
        assert_eq!(w.generation(), 2);
        assert_eq!(w.enter(State::Closed).generation(), 3);
        // A consecutive breaker keeps its failures (pybreaker's); a counted one's word
        // holds a probe tally, which closing clears; probes out are gone either way.
        let consecutive = Word::INITIAL
            .with_failures(4)
            .enter(State::HalfOpen)
            .with_probe_granted()
            .with_fleet(true)
            .with_throttling(true);
        let closed = consecutive.enter(State::Closed);
        assert_eq!((closed.failures(), closed.in_flight()), (4, 0));
        assert!(!closed.defers_to_fleet() && !closed.is_throttling());
        let counted = Word::initial(true, false)
            .enter(State::HalfOpen)
            .with_probe_tally(2, 1)
            .with_successes(3)
            .with_probe_granted()
            .with_fleet(true);
        let closed = counted.enter(State::Closed);
        assert_eq!(
            (closed.failures(), closed.successes(), closed.in_flight()),
            (0, 0, 0)
        );
        assert!(!closed.defers_to_fleet());
        assert!(closed.is_counted());
        // Opening keeps the fleet's hold, the counters, and the sticky bits' absence.
        let open = counted.enter(State::Open);
        assert!(open.defers_to_fleet());
        assert_eq!((open.failures(), open.in_flight()), (counted.failures(), 0));
    }

    #[test]
    fn sticky_modes_come_and_go_alone() {
        let w = Word::initial(false, true)
            .with_listening(true)
            .with_failures(2);
        let forced = w.forced_open();
        assert!(forced.is_forced_open() && !forced.is_disabled());
        assert_eq!(forced.state(), State::Open);
        let disabled = forced.disabled();
        assert!(disabled.is_disabled() && !disabled.is_forced_open());
        assert_eq!(disabled.state(), State::Closed);
        let released = disabled.without_sticky_modes();
        assert!(!released.is_disabled() && !released.is_forced_open());
        // Nothing else changes.
        assert_eq!(released.0, disabled.0 & !(FORCED_OPEN | DISABLED));
        assert!(released.is_listening() && released.is_timed() && !released.is_counted());
        assert_eq!(
            released.failures(),
            2,
            "a consecutive breaker's count stays"
        );
        assert_eq!(w.without_sticky_modes(), w);
        // A manual move to the state it is in keeps the generation.
        assert_eq!(
            forced.moved_to(State::Open).generation(),
            forced.generation()
        );
        assert!(!forced.moved_to(State::Open).is_forced_open());
        assert_eq!(
            forced.moved_to(State::Closed).generation(),
            forced.generation() + 1
        );
    }

    #[test]
    fn the_phase_and_the_word_say_their_names() {
        let names: Vec<&str> = Phase::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(
            names,
            ["closed", "open", "half_open", "forced_open", "disabled"]
        );
        let shown = format!("{:?}", Word::INITIAL.with_failures(3).enter(State::Open));
        assert!(shown.starts_with("Word {"), "{shown}");
        assert!(shown.contains("state: Open"), "{shown}");
        assert!(shown.contains("failures: 3"), "{shown}");
        assert!(shown.contains("generation: 1"), "{shown}");
    }

    #[test]
    fn display_names() {
        assert_eq!(State::Closed.to_string(), "closed");
        assert_eq!(State::Open.to_string(), "open");
        assert_eq!(State::HalfOpen.to_string(), "half_open");
    }
}
