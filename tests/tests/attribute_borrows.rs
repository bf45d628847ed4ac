//! Bodies that return borrows of their arguments run through the breaker like any
//! other: their errors count, and a rejection comes back in their own `Result`.

use breaker_runtime::{circuit_breaker, registry, ErrorKind, State};

use breaker_tests::TestError as E;

fn rejected(name: &str) -> E {
    E::rejected(ErrorKind::Open, name)
}

struct Pool {
    conns: Vec<u8>,
}

impl Pool {
    #[circuit_breaker(name = "borrows-mut-self", fail_max = 1)]
    fn conn_mut(&mut self) -> Result<&mut u8, E> {
        self.conns.first_mut().ok_or(E::Empty)
    }

    #[circuit_breaker(name = "borrows-ref-self", fail_max = 1)]
    fn conn(&self) -> Result<&u8, E> {
        self.conns.first().ok_or(E::Empty)
    }

    #[circuit_breaker(name = "borrows-self-by-value", fail_max = 1)]
    fn into_conns(self) -> Result<Vec<u8>, E> {
        if self.conns.is_empty() {
            return Err(E::Empty);
        }
        Ok(self.conns)
    }

    #[circuit_breaker(name = "borrows-mut-self-async", fail_max = 1)]
    async fn conn_mut_async(&mut self) -> Result<&mut u8, E> {
        tokio::task::yield_now().await;
        self.conns.first_mut().ok_or(E::Empty)
    }

    #[circuit_breaker(name = "borrows-ref-self-async", fail_max = 1)]
    async fn conn_async(&self) -> Result<&u8, E> {
        tokio::task::yield_now().await;
        self.conns.first().ok_or(E::Empty)
    }

    #[circuit_breaker(name = "borrows-self-by-value-async", fail_max = 1)]
    async fn into_conns_async(self) -> Result<Vec<u8>, E> {
        tokio::task::yield_now().await;
        if self.conns.is_empty() {
            return Err(E::Empty);
        }
        Ok(self.conns)
    }
}

#[circuit_breaker(name = "borrows-lifetime-param", fail_max = 1)]
fn first_of<'a>(v: &'a mut [u8]) -> Result<&'a mut u8, E> {
    v.first_mut().ok_or(E::Empty)
}

#[circuit_breaker(name = "borrows-lifetime-param-async", fail_max = 1)]
async fn first_of_async<'a>(v: &'a mut [u8]) -> Result<&'a mut u8, E> {
    tokio::task::yield_now().await;
    v.first_mut().ok_or(E::Empty)
}

/// The returned borrow is usable, the error opens the breaker, and the next call is
/// rejected without running.
fn assert_tripped(name: &str) {
    let breaker = registry::get(name).unwrap();
    assert_eq!(breaker.state(), State::Open, "{name}");
    assert_eq!(breaker.fail_counter(), 1, "{name}");
}

#[test]
fn a_mut_self_method_returns_a_reborrow() {
    let mut pool = Pool { conns: vec![1] };
    *pool.conn_mut().unwrap() = 5;
    assert_eq!(pool.conns, [5]);
    let mut empty = Pool { conns: vec![] };
    assert_eq!(empty.conn_mut(), Err(E::Empty));
    assert_tripped("borrows-mut-self");
    assert_eq!(pool.conn_mut(), Err(rejected("borrows-mut-self")));
}

#[test]
fn a_ref_self_method_returns_a_borrow() {
    let pool = Pool { conns: vec![1] };
    assert_eq!(pool.conn(), Ok(&1));
    assert_eq!(Pool { conns: vec![] }.conn(), Err(E::Empty));
    assert_tripped("borrows-ref-self");
    assert_eq!(pool.conn(), Err(rejected("borrows-ref-self")));
}

#[test]
fn a_self_by_value_method_returns_a_field() {
    assert_eq!(Pool { conns: vec![1, 2] }.into_conns(), Ok(vec![1, 2]));
    assert_eq!(Pool { conns: vec![] }.into_conns(), Err(E::Empty));
    assert_tripped("borrows-self-by-value");
    assert_eq!(
        Pool { conns: vec![3] }.into_conns(),
        Err(rejected("borrows-self-by-value"))
    );
}

#[test]
fn a_lifetime_bound_mut_parameter_is_returned() {
    let mut v = vec![1, 2];
    *first_of(&mut v).unwrap() += 10;
    assert_eq!(v, [11, 2]);
    assert_eq!(first_of(&mut []), Err(E::Empty));
    assert_tripped("borrows-lifetime-param");
    assert_eq!(first_of(&mut v), Err(rejected("borrows-lifetime-param")));
}

#[tokio::test]
async fn the_same_shapes_as_async_fns() {
    let mut pool = Pool { conns: vec![1] };
    *pool.conn_mut_async().await.unwrap() = 7;
    assert_eq!(pool.conn_async().await, Ok(&7));
    assert_eq!(Pool { conns: vec![] }.conn_mut_async().await, Err(E::Empty));
    assert_eq!(Pool { conns: vec![] }.conn_async().await, Err(E::Empty));
    assert_tripped("borrows-mut-self-async");
    assert_tripped("borrows-ref-self-async");
    assert_eq!(
        pool.conn_mut_async().await,
        Err(rejected("borrows-mut-self-async"))
    );
    assert_eq!(
        pool.conn_async().await,
        Err(rejected("borrows-ref-self-async"))
    );

    assert_eq!(
        Pool { conns: vec![4] }.into_conns_async().await,
        Ok(vec![4])
    );
    assert_eq!(
        Pool { conns: vec![] }.into_conns_async().await,
        Err(E::Empty)
    );
    assert_tripped("borrows-self-by-value-async");
    assert_eq!(
        Pool { conns: vec![4] }.into_conns_async().await,
        Err(rejected("borrows-self-by-value-async"))
    );

    let mut v = vec![1];
    *first_of_async(&mut v).await.unwrap() = 2;
    assert_eq!(v, [2]);
    assert_eq!(first_of_async(&mut []).await, Err(E::Empty));
    assert_tripped("borrows-lifetime-param-async");
    assert_eq!(
        first_of_async(&mut v).await,
        Err(rejected("borrows-lifetime-param-async"))
    );
}
