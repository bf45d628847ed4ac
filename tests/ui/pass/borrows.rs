//! Every signature that compiles without the attribute compiles with it: bodies that
//! hand out reborrows of their arguments, `Self`, `where` lifetimes, const generics,
//! `impl Trait` in both positions, `unsafe`. Warnings are errors here, so the expansion
//! adds none.
#![deny(warnings)]

use breaker_runtime::circuit_breaker;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub struct Conn(pub u8);

pub struct Pool {
    conns: Vec<Conn>,
}

impl Pool {
    #[circuit_breaker]
    pub fn conn_mut(&mut self) -> anyhow::Result<&mut Conn> {
        self.conns.first_mut().ok_or_else(|| anyhow::anyhow!("empty"))
    }

    #[circuit_breaker]
    pub fn conn(&self) -> Result<&Conn, BoxError> {
        self.conns.first().ok_or_else(|| "empty".into())
    }

    #[circuit_breaker]
    pub fn into_conns(self) -> Result<Vec<Conn>, BoxError> {
        Ok(self.conns)
    }

    #[circuit_breaker]
    pub fn new() -> Result<Self, BoxError> {
        Ok(Pool { conns: vec![Conn(1)] })
    }

    #[circuit_breaker]
    pub async fn conn_mut_async(&mut self) -> anyhow::Result<&mut Conn> {
        self.conns.first_mut().ok_or_else(|| anyhow::anyhow!("empty"))
    }

    #[circuit_breaker]
    pub async fn conn_async(&self) -> Result<&Conn, BoxError> {
        self.conns.first().ok_or_else(|| "empty".into())
    }

    #[circuit_breaker]
    pub async fn into_conns_async(self) -> Result<Vec<Conn>, BoxError> {
        Ok(self.conns)
    }

    #[circuit_breaker]
    pub async fn new_async() -> Result<Self, BoxError> {
        Ok(Pool { conns: Vec::new() })
    }
}

pub trait Make: Sized {
    fn seed(&self) -> u8;

    #[circuit_breaker]
    fn remake(&self) -> Result<Self, BoxError>
    where
        Self: From<u8>,
    {
        Ok(Self::from(self.seed()))
    }
}

#[circuit_breaker]
pub fn first_of<'a>(v: &'a mut Vec<u8>) -> Result<&'a mut u8, BoxError> {
    v.first_mut().ok_or_else(|| "empty".into())
}

#[circuit_breaker]
pub fn first_elided(v: &mut [u8]) -> Result<&mut u8, BoxError> {
    v.first_mut().ok_or_else(|| "empty".into())
}

#[circuit_breaker]
pub async fn first_async<'a>(v: &'a mut Vec<u8>) -> Result<&'a mut u8, BoxError> {
    v.first_mut().ok_or_else(|| "empty".into())
}

#[circuit_breaker]
pub fn where_outlives<'a, 'b>(v: &'a mut Vec<u8>) -> Result<&'b mut u8, BoxError>
where
    'a: 'b,
{
    v.first_mut().ok_or_else(|| "empty".into())
}

#[circuit_breaker]
pub fn const_generic<const N: usize>(v: [u8; N]) -> Result<[u8; N], BoxError> {
    Ok(v)
}

#[circuit_breaker]
pub fn impl_both_ways(v: impl AsRef<str>) -> Result<impl std::fmt::Display, BoxError> {
    Ok(v.as_ref().to_owned())
}

#[circuit_breaker]
pub async fn impl_async(n: u8) -> Result<impl Iterator<Item = u8>, BoxError> {
    Ok(0..n)
}

#[circuit_breaker]
pub fn unsized_coercion(x: &u8) -> Result<Box<dyn std::fmt::Debug + '_>, BoxError> {
    Ok(Box::new(x))
}

#[circuit_breaker]
pub fn patterns((a, b): (u8, u8), mut v: Vec<u8>) -> Result<Vec<u8>, BoxError> {
    v.push(a);
    v.push(b);
    Ok(v)
}

/// # Safety
/// `p` points to a readable byte.
#[circuit_breaker]
pub unsafe fn read(p: *const u8) -> Result<u8, BoxError> {
    Ok(*p)
}

// Kept as written: a no-op on an async fn, with or without the attribute.
#[allow(ungated_async_fn_track_caller)]
#[circuit_breaker]
#[track_caller]
pub async fn located_async() -> Result<(), BoxError> {
    Ok(())
}

fn main() {
    let mut pool = Pool::new().unwrap();
    pool.conn_mut().unwrap().0 = 2;
    assert_eq!(pool.conn().unwrap().0, 2);
    let mut v = vec![1, 2];
    *first_of(&mut v).unwrap() = 9;
    *where_outlives(&mut v).unwrap() += 1;
    *first_elided(&mut v).unwrap() += 1;
    assert_eq!(v, [11, 2]);
    assert_eq!(const_generic([1, 2, 3]).unwrap(), [1, 2, 3]);
    assert_eq!(impl_both_ways("x").unwrap().to_string(), "x");
    assert_eq!(patterns((1, 2), vec![0]).unwrap(), [0, 1, 2]);
    assert_eq!(unsafe { read(&7) }.unwrap(), 7);
    assert_eq!(format!("{:?}", unsized_coercion(&3).unwrap()), "3");
    assert_eq!(pool.into_conns().unwrap().len(), 1);
    let _ = (first_async(&mut v), impl_async(1), Pool::new_async(), located_async());
}
