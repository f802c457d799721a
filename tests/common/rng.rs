//! [`Xorshift`], a small reproducible generator (no `rand` dependency), and [`checksum`].

/// xorshift64*: small, fast, reproducible from its seed.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator for `seed` (any value, zero included).
    pub fn new(seed: u64) -> Xorshift {
        Xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Seeded from the environment variable `var` if it holds a number, else from the clock; the
    /// seed is printed as `seed: VAR=...` so a failure can be replayed.
    pub fn from_env_or_clock(var: &str) -> Xorshift {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("seed: {var}={seed}");
        Xorshift::new(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform-ish in `1..=max` (`max` > 0).
    pub fn up_to(&mut self, max: usize) -> usize {
        1 + (self.next_u64() % max as u64) as usize
    }

    /// Uniform-ish in `low..high` (`low` < `high`).
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low)
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        self.fill(&mut out);
        out
    }

    /// Fills `out` with random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Fletcher-64-style checksum (two running sums modulo 2³² − 1): sensitive to the order of the
/// bytes as well as their values, so it catches reordering, loss and duplication.
pub fn checksum(data: &[u8]) -> u64 {
    const MOD: u64 = 0xFFFF_FFFF;
    let (mut a, mut b) = (0u64, 0u64);
    // Reducing once per block gives the same sums as reducing per byte: within a block `a` stays
    // below 2³³ and `b` below 2⁴⁵.
    for block in data.chunks(4096) {
        for &byte in block {
            a += u64::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 32) | a
}
