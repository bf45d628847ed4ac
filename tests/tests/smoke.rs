use breaker_runtime::{circuit_breaker, registry, CircuitBreakerError, State};

#[derive(Debug, PartialEq)]
enum E {
    NotFound,
    Status(u16),
    Down,
    Rejected,
}
impl From<CircuitBreakerError> for E {
    fn from(_: CircuitBreakerError) -> Self {
        E::Rejected
    }
}

#[circuit_breaker(fail_max = 2, reset_timeout = "60s", exclude = [E::NotFound, E::Status(400..=499)])]
fn get(x: u32) -> Result<u32, E> {
    match x {
        0 => Err(E::Down),
        1 => Err(E::NotFound),
        2 => Err(E::Status(404)),
        _ => Ok(x),
    }
}

#[circuit_breaker(fail_max = 1)]
async fn aget(x: u32) -> Result<u32, E> {
    if x == 0 {
        return Err(E::Down);
    }
    Ok(x)
}

#[test]
fn smoke() {
    assert_eq!(get(5), Ok(5));
    assert_eq!(get(1), Err(E::NotFound));
    assert_eq!(get(2), Err(E::Status(404)));
    assert_eq!(get(0), Err(E::Down));
    for b in registry::all() {
        println!("{}", b.name());
    }
    let b = registry::get("smoke::get").unwrap();
    assert_eq!(b.fail_counter(), 1);
    assert_eq!(get(0), Err(E::Down));
    assert_eq!(b.state(), State::Open);
    assert_eq!(get(5), Err(E::Rejected));
}

#[tokio::test]
async fn smoke_async() {
    assert_eq!(aget(3).await, Ok(3));
    assert_eq!(aget(0).await, Err(E::Down));
    assert_eq!(aget(3).await, Err(E::Rejected));
    let fut = aget(3);
    println!("size {}", std::mem::size_of_val(&fut));
    for b in registry::all() {
        println!("{}", b.name());
    }
}
