use breaker_runtime::circuit_breaker;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Point {
    x: f64,
}

#[circuit_breaker(per = point.x)]
fn not_hashable(point: Point) -> Result<(), BoxError> {
    let _ = point;
    Ok(())
}

/// Hashable and comparable, but there is no owned copy of it to keep as a key.
#[derive(Hash, PartialEq, Eq)]
struct Session {
    id: u64,
}

#[circuit_breaker(per = session)]
fn not_owned(session: &Session) -> Result<(), BoxError> {
    let _ = session.id;
    Ok(())
}

fn main() {}
