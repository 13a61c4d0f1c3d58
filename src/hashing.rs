//! Passcode hashing pool: peppered argon2id on dedicated OS threads with reused memory.
//!
//! Argon2 is deliberately slow and memory-hungry, so it must never run on the async
//! runtime's worker threads (it would stall every other request on that thread). A
//! fixed set of OS threads each own one argon2 memory buffer for their whole life:
//! allocating and faulting in ~19 MiB per hash costs measurable time and makes the
//! allocator hand memory back and forth with the kernel (see `docs/hashing.md`).
//!
//! A request takes its place in the pool ([`Hasher::reserve`]) before it does anything else,
//! and is refused at once with [`HashingError::Overloaded`] when its hash would wait longer
//! than `max_wait_ms` (jobs ahead of it × the measured hash time ÷ threads) or when `queue`
//! jobs already wait. A shed request has then done no work and left no trace (no limit
//! charged, no user created), and the requests that are admitted finish within the bound:
//! a passcode that arrives after its caller has timed out is wasted work, and an unbounded
//! backlog would let a burst of traffic turn into minutes of latency for everyone.
//!
//! All codes of one method are hashed with one salt derived from the method (see
//! [`Hasher::hash_in`]), so checking a submitted code against the newest code and the one it
//! superseded costs one argon2 computation, not two.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;

/// Length of the random salt stored in each PHC string (argon2's recommended length).
pub const SALT_LEN: usize = argon2::RECOMMENDED_SALT_LEN;

/// Length of the argon2 tag stored in each PHC string.
pub const OUTPUT_LEN: usize = Params::DEFAULT_OUTPUT_LEN;

/// Shortest pepper accepted by [`Hasher::start`].
///
/// The pepper is the main thing standing between a leaked database and the one
/// million possible 6-digit codes, so a short or empty one (an empty secret is
/// byte-for-byte the same as no secret to argon2) is refused rather than silently
/// weakening every stored hash.
pub const MIN_PEPPER_BYTES: usize = 16;

/// Largest memory cost (KiB) this pool will allocate for, configured or read back
/// from a stored hash. A corrupted row claiming terabytes must fail cleanly instead
/// of aborting the process on allocation failure.
pub const MAX_M_COST_KIB: u32 = 1024 * 1024;

/// Largest time cost accepted, for the same reason as [`MAX_M_COST_KIB`]: a stored
/// hash must not be able to pin a hashing thread for minutes.
pub const MAX_T_COST: u32 = 64;

/// Largest parallelism accepted. Lanes are computed sequentially by this pool, so
/// a large value only adds memory without adding speed.
pub const MAX_P_COST: u32 = 64;

/// Tunables for the hashing pool (the `[hashing]` config section).
///
/// Only `m_cost_kib`, `t_cost` and `p_cost` are written into new hashes; existing
/// hashes keep verifying after these change because verification reads the
/// parameters back out of each stored PHC string.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashingParams {
    /// Argon2 memory cost in KiB.
    pub m_cost_kib: u32,
    /// Argon2 passes over memory.
    pub t_cost: u32,
    /// Argon2 lanes.
    pub p_cost: u32,
    /// Number of dedicated hashing threads.
    pub threads: usize,
    /// Jobs that may wait for a thread before new ones are refused.
    pub queue: usize,
    /// Longest expected wait for a thread before a request is refused; 0: `queue` only.
    pub max_wait_ms: u64,
    /// How long a refused request is held before its 503 goes out (see [`Hasher::admit`]).
    pub shed_pause_ms: u64,
}

impl Default for HashingParams {
    fn default() -> Self {
        Self {
            // OWASP's argon2id minimum (19 MiB, t=2, p=1), which is also the argon2
            // crate's default; docs/hashing.md has the measurements behind keeping it.
            m_cost_kib: Params::DEFAULT_M_COST,
            t_cost: Params::DEFAULT_T_COST,
            p_cost: Params::DEFAULT_P_COST,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            queue: 256,
            // Admitted requests finish within about a second even far past saturation (64
            // requests in flight on 2 cores wait ~0.9 s by Little's law, so less would shed
            // a merely busy server); a client that retries after a 503 gets a better deal
            // than one queued for seconds.
            max_wait_ms: 800,
            // As long as the 503's `Retry-After: 1`.
            shed_pause_ms: 1000,
        }
    }
}

/// Why a hashing request did not produce an answer.
#[derive(thiserror::Error, Debug)]
pub enum HashingError {
    /// The job queue is full; the caller should shed the request (HTTP 503).
    #[error("passcode hashing queue is full; try again shortly")]
    Overloaded,
    /// The stored hash is not a PHC string this pool can verify.
    #[error("stored passcode hash is malformed or uses unsupported parameters")]
    Malformed,
    /// The configuration is unusable or the pool could not be set up.
    #[error("invalid passcode hashing configuration: {0}")]
    Params(String),
    /// The hashing threads are gone, so no answer will ever come.
    #[error("passcode hashing pool has stopped")]
    Stopped,
}

/// Handle to the hashing pool. Cloning is cheap and all clones share the same
/// threads; the threads exit once every clone has been dropped and the queue drains.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: Sender<Job>,
    /// Parameters written into new hashes.
    params: Params,
    threads: usize,
    queue: usize,
    max_wait: Duration,
    shed_pause: Duration,
    load: Arc<Load>,
}

/// What the pool is doing, shared with the workers and with every [`Slot`].
#[derive(Default)]
struct Load {
    /// Reserved slots: jobs queued or running, and requests that will submit one.
    in_flight: AtomicUsize,
    /// Moving average of one computation, nanoseconds (0 until the first one).
    avg_ns: AtomicU64,
    /// argon2 computations done (hashes and verifications).
    computations: AtomicU64,
}

/// A place in the hashing pool, held from before a request's first side effect until its
/// hash is done (or the request ends without one). See [`Hasher::reserve`].
pub struct Slot {
    load: Arc<Load>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.load.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Slot")
    }
}

impl fmt::Debug for Hasher {
    // Hand-written so that neither the pepper nor anything derived from it can ever
    // end up in a log line via `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("threads", &self.inner.threads)
            .field("queue", &self.inner.queue)
            .field("queue_depth", &self.queue_depth())
            .finish_non_exhaustive()
    }
}

/// Everything argon2 needs besides the password and the secret, owned so that it
/// can cross to a hashing thread.
#[derive(PartialEq)]
struct Recipe {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Vec<u8>,
}

enum Job {
    Hash {
        code: SecretString,
        recipe: Recipe,
        reply: oneshot::Sender<Result<String, HashingError>>,
        slot: Slot,
    },
    /// One computation compared with every expected tag (all made with `recipe`).
    Verify {
        code: SecretString,
        recipe: Recipe,
        expected: Vec<Vec<u8>>,
        reply: oneshot::Sender<Result<Vec<bool>, HashingError>>,
        slot: Slot,
    },
}

impl Hasher {
    /// Validates `params`, allocates one argon2 buffer per thread and starts the
    /// threads (`otpd-argon2-N`).
    pub fn start(params: &HashingParams, pepper: SecretString) -> Result<Hasher, HashingError> {
        if pepper.expose_secret().len() < MIN_PEPPER_BYTES {
            return Err(HashingError::Params(format!(
                "pepper must be at least {MIN_PEPPER_BYTES} bytes"
            )));
        }
        if params.threads == 0 {
            return Err(HashingError::Params("threads must be at least 1".into()));
        }
        // A zero-capacity crossbeam channel is a rendezvous channel: `try_send` would
        // fail whenever no thread happens to be blocked in `recv`, i.e. almost always.
        if params.queue == 0 {
            return Err(HashingError::Params("queue must be at least 1".into()));
        }
        let argon_params = argon2_params(params.m_cost_kib, params.t_cost, params.p_cost)?;
        check_limits(&argon_params).map_err(HashingError::Params)?;

        let pepper = Arc::new(pepper);
        let load = Arc::new(Load::default());
        // Reservations keep at most threads + queue jobs in flight, so a reserved job always
        // finds room.
        let (jobs, rx) = crossbeam_channel::bounded::<Job>(params.queue + params.threads);
        for n in 0..params.threads {
            // Allocated (and zero-filled, so already faulted in) here rather than in
            // the thread so that running out of memory is a startup error, not a
            // thread that silently never serves anything.
            let blocks = alloc_blocks(argon_params.block_count())?;
            let worker = Worker {
                jobs: rx.clone(),
                pepper: Arc::clone(&pepper),
                blocks,
                home_blocks: argon_params.block_count(),
                load: Arc::clone(&load),
            };
            std::thread::Builder::new()
                .name(format!("otpd-argon2-{n}"))
                .spawn(move || worker.run())
                .map_err(|e| HashingError::Params(format!("cannot spawn hashing thread: {e}")))?;
        }
        tracing::info!(
            m_cost_kib = params.m_cost_kib,
            t_cost = params.t_cost,
            p_cost = params.p_cost,
            threads = params.threads,
            queue = params.queue,
            max_wait_ms = params.max_wait_ms,
            "passcode hashing pool started"
        );
        Ok(Hasher {
            inner: Arc::new(Inner {
                jobs,
                params: argon_params,
                threads: params.threads,
                queue: params.queue,
                max_wait: Duration::from_millis(params.max_wait_ms),
                shed_pause: Duration::from_millis(params.shed_pause_ms),
                load,
            }),
        })
    }

    /// Takes a place in the pool for one request, or refuses it with `Overloaded` when the
    /// hash would wait longer than `max_wait_ms` or `queue` jobs already wait. Called before
    /// the request charges a limit or writes anything, so a refused request leaves no trace.
    pub fn reserve(&self) -> Result<Slot, HashingError> {
        let load = &self.inner.load;
        let ahead = load.in_flight.fetch_add(1, Ordering::SeqCst);
        let slot = Slot {
            load: Arc::clone(load),
        };
        if self.too_busy(ahead) {
            drop(slot);
            crate::metrics::hashing_shed();
            return Err(HashingError::Overloaded);
        }
        Ok(slot)
    }

    /// [`Hasher::reserve`] for a request: a refusal is answered only after `shed_pause_ms`.
    /// A refused request costs little, so a client that retries at once (most load
    /// generators, and impatient clients) would otherwise turn shedding into a loop that
    /// takes the CPU the admitted hashes need; held, it asks again at about the pace its
    /// `Retry-After` says.
    pub async fn admit(&self) -> Result<Slot, HashingError> {
        match self.reserve() {
            Err(HashingError::Overloaded) => Err(self.held_refusal().await),
            other => other,
        }
    }

    /// Whether a request arriving now would be refused by [`Hasher::reserve`], without taking
    /// a place: checked before the API secret is, so a request that will be shed costs no
    /// database round trip. Refusals are held as in [`Hasher::admit`].
    pub async fn check_room(&self) -> Result<(), HashingError> {
        if !self.too_busy(self.inner.load.in_flight.load(Ordering::SeqCst)) {
            return Ok(());
        }
        crate::metrics::hashing_shed();
        Err(self.held_refusal().await)
    }

    /// A refusal, answered after `shed_pause_ms`.
    async fn held_refusal(&self) -> HashingError {
        tokio::time::sleep(self.inner.shed_pause).await;
        HashingError::Overloaded
    }

    /// `ahead` jobs in flight: would one more wait too long, or overflow the queue?
    fn too_busy(&self, ahead: usize) -> bool {
        let threads = self.inner.threads.max(1);
        if ahead >= threads + self.inner.queue {
            return true;
        }
        // Whole rounds of the pool that must finish before this job starts.
        let wait = Duration::from_nanos(
            self.inner
                .load
                .avg_ns
                .load(Ordering::Relaxed)
                .saturating_mul((ahead / threads) as u64),
        );
        !self.inner.max_wait.is_zero() && wait > self.inner.max_wait
    }

    /// Hashes `code` in a reserved slot. With `salt_seed` (the method the code is for) the
    /// salt is derived from it, so every code of that method shares one salt and
    /// [`Hasher::verify_in`] checks the newest and a superseded code with one computation;
    /// without, the salt is random.
    pub async fn hash_in(
        &self,
        slot: Slot,
        code: &SecretString,
        salt_seed: Option<&[u8]>,
    ) -> Result<String, HashingError> {
        let salt = match salt_seed {
            Some(seed) => derived_salt(seed),
            None => {
                let mut salt = vec![0u8; SALT_LEN];
                OsRng.fill_bytes(&mut salt);
                salt
            }
        };
        let started = Instant::now();
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash {
            code: SecretString::from(code.expose_secret()),
            recipe: Recipe {
                algorithm: Algorithm::Argon2id,
                version: Version::V0x13,
                params: self.inner.params.clone(),
                salt,
            },
            reply,
            slot,
        })?;
        let hashed = answer.await.map_err(|_| HashingError::Stopped)?;
        crate::metrics::hashing_observed(started.elapsed());
        hashed
    }

    /// Checks `code` against the newest stored hash and, optionally, the one it superseded:
    /// `(matches newest, matches older)`. Hashes that share parameters and salt (every code
    /// of a method since per-method salts) cost one computation; an older hash with its own
    /// salt (written before) costs a second one, only when the newest doesn't match.
    pub async fn verify_in(
        &self,
        slot: Slot,
        code: &SecretString,
        newest: &str,
        older: Option<&str>,
    ) -> Result<(bool, bool), HashingError> {
        let (recipe, expected) = parse_phc(newest)?;
        let older = match older.map(parse_phc) {
            Some(Ok(o)) => Some(o),
            // A malformed older hash only means the superseded check can't match.
            Some(Err(_)) | None => None,
        };
        let mut tags = vec![expected];
        let separate = match older {
            Some((r, tag)) if r == recipe && tag.len() == tags[0].len() => {
                tags.push(tag);
                None
            }
            other => other,
        };
        let results = self.run_verify(slot, code, recipe, tags).await?;
        let newest_ok = results.first().copied().unwrap_or(false);
        let mut older_ok = results.get(1).copied().unwrap_or(false);
        if let (false, Some((r, tag))) = (newest_ok, separate) {
            // Same request, so not subject to shedding a second time.
            self.inner.load.in_flight.fetch_add(1, Ordering::SeqCst);
            let slot = Slot {
                load: Arc::clone(&self.inner.load),
            };
            older_ok = self
                .run_verify(slot, code, r, vec![tag])
                .await?
                .first()
                .copied()
                .unwrap_or(false);
        }
        Ok((newest_ok, older_ok))
    }

    /// Reserved slots right now.
    pub fn load_in_flight(&self) -> usize {
        self.inner.load.in_flight.load(Ordering::SeqCst)
    }

    /// argon2 computations done so far (for tests and the benchmark).
    pub fn computations(&self) -> u64 {
        self.inner.load.computations.load(Ordering::Relaxed)
    }

    async fn run_verify(
        &self,
        slot: Slot,
        code: &SecretString,
        recipe: Recipe,
        expected: Vec<Vec<u8>>,
    ) -> Result<Vec<bool>, HashingError> {
        let started = Instant::now();
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify {
            code: SecretString::from(code.expose_secret()),
            recipe,
            expected,
            reply,
            slot,
        })?;
        let verified = answer.await.map_err(|_| HashingError::Stopped)?;
        crate::metrics::hashing_observed(started.elapsed());
        verified
    }

    /// Hashes `code` with a fresh random salt and the pool's current parameters,
    /// returning an argon2id PHC string.
    pub async fn hash(&self, code: &SecretString) -> Result<String, HashingError> {
        let slot = self.reserve()?;
        self.hash_in(slot, code, None).await
    }

    /// Checks `code` against a stored PHC string, using the parameters and salt
    /// recorded in that string rather than the pool's current ones.
    pub async fn verify(&self, code: &SecretString, phc: &str) -> Result<bool, HashingError> {
        // Parsed before reserving so garbage never takes a place.
        parse_phc(phc)?;
        let slot = self.reserve()?;
        Ok(self.verify_in(slot, code, phc, None).await?.0)
    }

    /// Jobs waiting for a hashing thread (not counting ones being computed).
    pub fn queue_depth(&self) -> usize {
        self.inner.jobs.len()
    }

    fn submit(&self, job: Job) -> Result<(), HashingError> {
        match self.inner.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                crate::metrics::hashing_shed();
                Err(HashingError::Overloaded)
            }
            Err(TrySendError::Disconnected(_)) => Err(HashingError::Stopped),
        }
    }
}

struct Worker {
    jobs: Receiver<Job>,
    pepper: Arc<SecretString>,
    blocks: Vec<Block>,
    /// Buffer size for the configured parameters, which most jobs use.
    home_blocks: usize,
    load: Arc<Load>,
}

impl Worker {
    fn run(mut self) {
        // `recv` fails only once every `Hasher` clone is gone and the queue is empty.
        while let Ok(job) = self.jobs.recv() {
            // A panic inside argon2 must not cost the pool a thread: with every thread
            // gone, callers whose jobs were already queued would wait forever.
            let outcome = catch_unwind(AssertUnwindSafe(|| self.handle(job)));
            if outcome.is_err() {
                tracing::error!("passcode hashing job panicked; thread keeps serving");
            }
        }
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Hash {
                code,
                recipe,
                reply,
                slot,
            } => {
                // The caller gave up (client disconnected, request timed out): skipping
                // the work is the cheapest way to recover from a burst.
                if reply.is_closed() {
                    return;
                }
                let result = self.timed(&code, &recipe, OUTPUT_LEN).and_then(|tag| {
                    phc_string(&recipe, &tag).map_err(|e| HashingError::Params(e.to_string()))
                });
                // Free before answering: the caller may reserve again right away.
                drop(slot);
                let _ = reply.send(result);
            }
            Job::Verify {
                code,
                recipe,
                expected,
                reply,
                slot,
            } => {
                if reply.is_closed() {
                    return;
                }
                let len = expected.first().map_or(OUTPUT_LEN, Vec::len);
                let result = self
                    .timed(&code, &recipe, len)
                    .map(|tag| expected.iter().map(|e| bool::from(tag.ct_eq(e))).collect());
                drop(slot);
                let _ = reply.send(result);
            }
        }
    }

    /// One computation, counted and folded into the moving average that `reserve` uses.
    fn timed(
        &mut self,
        code: &SecretString,
        recipe: &Recipe,
        out_len: usize,
    ) -> Result<Vec<u8>, HashingError> {
        let started = Instant::now();
        let result = self.compute(code, recipe, out_len);
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let avg = self.load.avg_ns.load(Ordering::Relaxed);
        let next = if avg == 0 {
            took
        } else {
            // 1/8 of the new sample: smooth, yet a parameter change shows within a second.
            avg - avg / 8 + took / 8
        };
        self.load.avg_ns.store(next, Ordering::Relaxed);
        self.load.computations.fetch_add(1, Ordering::Relaxed);
        result
    }

    fn compute(
        &mut self,
        code: &SecretString,
        recipe: &Recipe,
        out_len: usize,
    ) -> Result<Vec<u8>, HashingError> {
        let needed = recipe.params.block_count();
        if needed > self.blocks.len() {
            // Only hashes written under older, larger parameters get here; OTP hashes
            // live for minutes, so this is a transition-period cost, not a steady one.
            tracing::debug!(needed, have = self.blocks.len(), "growing argon2 buffer");
            grow_blocks(&mut self.blocks, needed)?;
        }
        let argon = Argon2::new_with_secret(
            self.pepper.expose_secret().as_bytes(),
            recipe.algorithm,
            recipe.version,
            recipe.params.clone(),
        )
        .map_err(|e| HashingError::Params(e.to_string()))?;
        let mut tag = vec![0u8; out_len];
        // Passing a prefix means hashes with smaller legacy parameters reuse the
        // buffer as-is. Stale contents are harmless: argon2 writes every block before
        // it reads it.
        let result = argon.hash_password_into_with_memory(
            code.expose_secret().as_bytes(),
            &recipe.salt,
            &mut tag,
            &mut self.blocks[..needed],
        );
        if self.blocks.len() > self.home_blocks {
            // Give the legacy-sized memory back rather than holding the largest size
            // ever seen for the life of the process.
            self.blocks.truncate(self.home_blocks);
            self.blocks.shrink_to_fit();
        }
        match result {
            Ok(()) => Ok(tag),
            // Inputs were validated when parsed, so argon2 refusing them means the
            // stored hash carries something we cannot reproduce.
            Err(_) => Err(HashingError::Malformed),
        }
    }
}

/// The salt of every code of one method: not secret (salts are stored in the clear), only
/// distinct per method so equal codes of different methods hash differently.
fn derived_salt(seed: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"otpd passcode salt v1\0");
    h.update(seed);
    h.finalize()[..SALT_LEN].to_vec()
}

fn argon2_params(m: u32, t: u32, p: u32) -> Result<Params, HashingError> {
    Params::new(m, t, p, Some(OUTPUT_LEN)).map_err(|e| HashingError::Params(e.to_string()))
}

fn check_limits(params: &Params) -> Result<(), String> {
    if params.m_cost() > MAX_M_COST_KIB {
        return Err(format!("m_cost_kib must be at most {MAX_M_COST_KIB}"));
    }
    if params.t_cost() > MAX_T_COST {
        return Err(format!("t_cost must be at most {MAX_T_COST}"));
    }
    if params.p_cost() > MAX_P_COST {
        return Err(format!("p_cost must be at most {MAX_P_COST}"));
    }
    Ok(())
}

fn alloc_blocks(count: usize) -> Result<Vec<Block>, HashingError> {
    let mut blocks = Vec::new();
    grow_blocks(&mut blocks, count)?;
    Ok(blocks)
}

fn grow_blocks(blocks: &mut Vec<Block>, count: usize) -> Result<(), HashingError> {
    // `try_reserve` turns an allocation failure into an error; `resize` alone would
    // abort the whole process.
    let extra = count.saturating_sub(blocks.len());
    blocks
        .try_reserve_exact(extra)
        .map_err(|e| HashingError::Params(format!("cannot allocate argon2 memory: {e}")))?;
    blocks.resize(count, Block::new());
    Ok(())
}

fn parse_phc(phc: &str) -> Result<(Recipe, Vec<u8>), HashingError> {
    let parsed = PasswordHash::new(phc).map_err(|_| HashingError::Malformed)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|_| HashingError::Malformed)?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|_| HashingError::Malformed)?,
        // Matches the stock verifier, which treats a missing version as the default.
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(|_| HashingError::Malformed)?;
    check_limits(&params).map_err(|_| HashingError::Malformed)?;
    let salt = parsed.salt.ok_or(HashingError::Malformed)?;
    let mut salt_buf = [0u8; 64];
    let salt = salt
        .decode_b64(&mut salt_buf)
        .map_err(|_| HashingError::Malformed)?
        .to_vec();
    if salt.len() < argon2::MIN_SALT_LEN {
        return Err(HashingError::Malformed);
    }
    let expected = parsed.hash.ok_or(HashingError::Malformed)?;
    Ok((
        Recipe {
            algorithm,
            version,
            params,
            salt,
        },
        expected.as_bytes().to_vec(),
    ))
}

fn phc_string(recipe: &Recipe, tag: &[u8]) -> Result<String, argon2::password_hash::Error> {
    // Built from password_hash's own types so the encoding is exactly what the stock
    // `PasswordHasher` would emit and `PasswordVerifier` expects.
    let salt = SaltString::encode_b64(&recipe.salt)?;
    let hash = PasswordHash {
        algorithm: recipe.algorithm.ident(),
        version: Some(recipe.version.into()),
        params: ParamsString::try_from(&recipe.params)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(tag)?),
    };
    Ok(hash.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;
    use std::time::Duration;

    const PEPPER: &str = "test-pepper-0123456789abcdef";

    /// Small costs keep the suite fast; the production defaults are exercised by
    /// `examples/hash_bench.rs`.
    fn small(m_cost_kib: u32, t_cost: u32) -> HashingParams {
        HashingParams {
            m_cost_kib,
            t_cost,
            p_cost: 1,
            threads: 2,
            queue: 64,
            max_wait_ms: 0,
            shed_pause_ms: 0,
        }
    }

    fn hasher(params: &HashingParams, pepper: &str) -> Hasher {
        Hasher::start(params, SecretString::from(pepper)).expect("pool starts")
    }

    fn code(s: &str) -> SecretString {
        SecretString::from(s)
    }

    #[tokio::test]
    async fn a_hashed_code_verifies_against_its_own_hash() {
        let h = hasher(&small(1024, 1), PEPPER);
        let phc = h.hash(&code("123456")).await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        assert!(h.verify(&code("123456"), &phc).await.expect("verify"));
    }

    #[tokio::test]
    async fn the_default_parameters_hash_and_verify() {
        let h = hasher(&HashingParams::default(), PEPPER);
        let phc = h.hash(&code("000000")).await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h.verify(&code("000000"), &phc).await.expect("verify"));
    }

    #[tokio::test]
    async fn a_wrong_code_does_not_verify() {
        let h = hasher(&small(1024, 1), PEPPER);
        let phc = h.hash(&code("123456")).await.expect("hash");
        assert!(!h.verify(&code("123457"), &phc).await.expect("verify"));
        assert!(!h.verify(&code(""), &phc).await.expect("verify"));
    }

    #[tokio::test]
    async fn a_hash_made_with_another_pepper_does_not_verify() {
        let params = small(1024, 1);
        let a = hasher(&params, PEPPER);
        let b = hasher(&params, "another-pepper-0123456789abcdef");
        let phc = a.hash(&code("123456")).await.expect("hash");
        assert!(!b.verify(&code("123456"), &phc).await.expect("verify"));
    }

    #[tokio::test]
    async fn hashing_one_code_twice_gives_different_salts_and_hashes() {
        let h = hasher(&small(1024, 1), PEPPER);
        let one = h.hash(&code("123456")).await.expect("hash");
        let two = h.hash(&code("123456")).await.expect("hash");
        assert_ne!(one, two);
        let salt = |phc: &str| phc.split('$').nth(4).map(str::to_owned);
        assert_ne!(salt(&one), salt(&two));
        // 16 bytes in unpadded base64.
        assert_eq!(salt(&one).map(|s| s.len()), Some(22));
    }

    #[tokio::test]
    async fn the_stock_argon2_verifier_accepts_our_hashes_given_the_same_pepper() {
        let h = hasher(&small(2048, 2), PEPPER);
        let phc = h.hash(&code("654321")).await.expect("hash");
        let parsed = PasswordHash::new(&phc).expect("parses as PHC");
        let stock = Argon2::new_with_secret(
            PEPPER.as_bytes(),
            Algorithm::Argon2id,
            Version::V0x13,
            Params::default(),
        )
        .expect("stock context");
        assert!(stock.verify_password(b"654321", &parsed).is_ok());
        assert!(stock.verify_password(b"654320", &parsed).is_err());
        // And without the pepper the stock verifier must refuse it.
        assert!(Argon2::default()
            .verify_password(b"654321", &parsed)
            .is_err());
    }

    #[tokio::test]
    async fn hashes_from_the_stock_argon2_hasher_verify_here() {
        use argon2::password_hash::PasswordHasher;
        let stock = Argon2::new_with_secret(
            PEPPER.as_bytes(),
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 3, 2, None).expect("params"),
        )
        .expect("stock context");
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let phc = stock
            .hash_password(b"112233", &salt)
            .expect("stock hash")
            .to_string();
        let h = hasher(&small(1024, 1), PEPPER);
        assert!(h.verify(&code("112233"), &phc).await.expect("verify"));
        assert!(!h.verify(&code("112234"), &phc).await.expect("verify"));
    }

    #[tokio::test]
    async fn hashes_made_under_old_parameters_still_verify_after_the_defaults_change() {
        let old = hasher(&small(8192, 1), PEPPER);
        let bigger_old = old.hash(&code("111111")).await.expect("hash");
        let smaller = hasher(&small(512, 3), PEPPER);
        let smaller_old = smaller.hash(&code("222222")).await.expect("hash");

        let current = hasher(&small(2048, 2), PEPPER);
        // Larger than the thread's buffer, so the buffer has to grow for this job...
        assert!(current
            .verify(&code("111111"), &bigger_old)
            .await
            .expect("verify"));
        assert!(!current
            .verify(&code("111112"), &bigger_old)
            .await
            .expect("verify"));
        // ...smaller, so only a prefix of it is used...
        assert!(current
            .verify(&code("222222"), &smaller_old)
            .await
            .expect("verify"));
        // ...and new hashes still use the current parameters afterwards.
        let fresh = current.hash(&code("333333")).await.expect("hash");
        assert!(fresh.contains("$m=2048,t=2,p=1$"), "{fresh}");
        assert!(current
            .verify(&code("333333"), &fresh)
            .await
            .expect("verify"));
    }

    #[tokio::test]
    async fn malformed_stored_hashes_are_reported_as_malformed() {
        let h = hasher(&small(1024, 1), PEPPER);
        let good = h.hash(&code("123456")).await.expect("hash");
        let (no_hash, _) = good.rsplit_once('$').expect("has segments");
        let no_hash = no_hash.to_owned();
        let cases = [
            String::new(),
            "not a hash".to_owned(),
            "$argon2id$".to_owned(),
            "$bcrypt$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
            good.replace("v=19", "v=7"),
            good.replace("m=1024", "m=zz"),
            good.replace("m=1024", "m=4294967295"),
            good.replace("t=1", "t=100000"),
            good.replace("p=1", "p=0"),
            good.replace("p=1", "p=1,q=9"),
            no_hash,
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
            format!("{good}!"),
        ];
        for phc in &cases {
            match h.verify(&code("123456"), phc).await {
                Err(HashingError::Malformed) => {}
                other => panic!("{phc:?} gave {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_full_queue_sheds_new_jobs_as_overloaded() {
        let params = HashingParams {
            m_cost_kib: 8192,
            t_cost: 2,
            p_cost: 1,
            threads: 1,
            queue: 1,
            max_wait_ms: 0,
            shed_pause_ms: 0,
        };
        let h = hasher(&params, PEPPER);
        let mut jobs = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let h = h.clone();
            jobs.spawn(async move { h.hash(&code("123456")).await });
        }
        let (mut ok, mut overloaded) = (0, 0);
        while let Some(result) = jobs.join_next().await {
            match result.expect("task ran") {
                Ok(_) => ok += 1,
                Err(HashingError::Overloaded) => overloaded += 1,
                Err(e) => panic!("unexpected error {e:?}"),
            }
        }
        assert!(ok >= 1, "some jobs must get through ({ok} ok)");
        assert!(
            overloaded >= 1,
            "some jobs must be shed ({overloaded} shed)"
        );
        assert_eq!(ok + overloaded, 32);
        // Once the burst is over the pool serves again.
        assert!(h.hash(&code("123456")).await.is_ok());
        assert_eq!(h.queue_depth(), 0);
    }

    #[tokio::test]
    async fn one_computation_checks_the_newest_and_the_superseded_code() {
        let h = hasher(&small(1024, 1), PEPPER);
        let method = b"project-test-1\0phone-number-test-1";
        let slot = || h.reserve().expect("room");
        let old = h
            .hash_in(slot(), &code("111111"), Some(method))
            .await
            .unwrap();
        let new = h
            .hash_in(slot(), &code("222222"), Some(method))
            .await
            .unwrap();
        for (typed, expected) in [
            ("222222", (true, false)),
            ("111111", (false, true)),
            ("333333", (false, false)),
        ] {
            let before = h.computations();
            let got = h
                .verify_in(slot(), &code(typed), &new, Some(&old))
                .await
                .unwrap();
            assert_eq!(got, expected, "{typed}");
            assert_eq!(h.computations() - before, 1, "{typed}: one computation");
        }
        // Another method's code has another salt; a random-salt (older) hash still verifies,
        // with a second computation only when the newest doesn't match.
        let other = h
            .hash_in(slot(), &code("222222"), Some(b"x"))
            .await
            .unwrap();
        assert_ne!(other, new);
        let legacy = h.hash(&code("111111")).await.unwrap();
        let before = h.computations();
        let got = h
            .verify_in(slot(), &code("111111"), &new, Some(&legacy))
            .await;
        assert_eq!(got.unwrap(), (false, true));
        assert_eq!(h.computations() - before, 2);
        assert_eq!(h.load_in_flight(), 0, "every slot was given back");
    }

    #[tokio::test]
    async fn requests_are_shed_by_expected_wait_before_they_do_anything() {
        let params = HashingParams {
            threads: 1,
            queue: 1000,
            max_wait_ms: 1,
            shed_pause_ms: 0,
            ..small(8192, 2)
        };
        let h = hasher(&params, PEPPER);
        // Until a hash has been timed, only the depth bounds.
        let a = h.reserve().expect("empty pool");
        let b = h.reserve().expect("no measurement yet");
        drop((a, b));
        h.hash(&code("123456")).await.unwrap();
        // One job ahead on one thread: a whole hash (several ms) to wait > 1 ms.
        let first = h.reserve().expect("nothing ahead");
        assert!(matches!(h.reserve(), Err(HashingError::Overloaded)));
        drop(first);
        // The pool is free again at once.
        let slot = h.reserve().expect("recovered");
        assert!(h.hash_in(slot, &code("1"), None).await.is_ok());
    }

    #[tokio::test]
    async fn callers_that_give_up_do_not_wedge_the_pool() {
        // Room for the 8 abandoned jobs and the real one even if the worker hasn't taken any
        // yet (a loaded machine): the test is about abandoned jobs, not about shedding.
        let params = HashingParams {
            threads: 1,
            queue: 9,
            ..small(8192, 2)
        };
        let h = hasher(&params, PEPPER);
        for _ in 0..8 {
            // Polled once (so the job is queued), then dropped when the timeout fires.
            let _ = tokio::time::timeout(Duration::from_micros(1), h.hash(&code("1"))).await;
        }
        let phc = h.hash(&code("123456")).await.expect("hash");
        assert!(h.verify(&code("123456"), &phc).await.expect("verify"));
        assert_eq!(h.queue_depth(), 0);
    }

    #[test]
    fn the_pepper_never_appears_in_debug_output() {
        let h = hasher(&small(64, 1), PEPPER);
        let shown = format!("{h:?} {:?}", h.clone());
        assert!(!shown.contains(PEPPER), "{shown}");
        assert!(shown.contains("threads"));
    }

    #[test]
    fn unusable_configurations_are_refused_at_start() {
        let refuse = |params: HashingParams, pepper: &str| {
            matches!(
                Hasher::start(&params, SecretString::from(pepper)),
                Err(HashingError::Params(_))
            )
        };
        assert!(refuse(small(1024, 1), ""));
        assert!(refuse(small(1024, 1), "short"));
        assert!(refuse(small(1024, 0), PEPPER));
        assert!(refuse(small(1, 1), PEPPER));
        assert!(refuse(small(MAX_M_COST_KIB + 1, 1), PEPPER));
        assert!(refuse(
            HashingParams {
                threads: 0,
                ..small(1024, 1)
            },
            PEPPER
        ));
        assert!(refuse(
            HashingParams {
                queue: 0,
                ..small(1024, 1)
            },
            PEPPER
        ));
    }

    #[test]
    fn config_fills_missing_fields_with_defaults_and_rejects_unknown_ones() {
        let parsed: HashingParams =
            serde_json::from_str(r#"{"t_cost": 3, "queue": 16}"#).expect("parses");
        assert_eq!(
            parsed,
            HashingParams {
                t_cost: 3,
                queue: 16,
                ..HashingParams::default()
            }
        );
        assert!(serde_json::from_str::<HashingParams>(r#"{"m_cost": 1}"#).is_err());
    }

    #[test]
    fn errors_explain_themselves() {
        assert!(HashingError::Overloaded.to_string().contains("full"));
        assert!(HashingError::Params("threads".into())
            .to_string()
            .contains("threads"));
    }
}
