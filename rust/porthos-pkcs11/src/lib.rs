//! PKCS#11 signing pool: the HSM dispatcher of porthos (no pyo3 here).
//!
//! Why Rust and threads: calls made from here run without the GIL, one session per
//! worker thread. That reaches an HSM's capacity where the module lets threads run
//! in parallel (RSA on SoftHSM2 does). For ECDSA on SoftHSM2 it does not: a plain C
//! loop with two threads of one process signs P-256 no faster than one thread,
//! while two processes double the rate (measured; docs/hsm.md, "Scaling"), because
//! SoftHSM2 takes process-wide mutexes on every C_SignInit/C_Sign. For more than
//! one session porthos therefore runs one process per session
//! (python/porthos/hsm_workers.py), each using this pool with one session.
//!
//! Why OS locking: a module initialised with `C_Initialize(NULL)` (what
//! python-pkcs11 0.10.1 does) may assume one thread; SoftHSM2 then switches its
//! internal locks off and crashes when two threads sign at once. [`load_module`]
//! always leaves the module initialised with `CKF_OS_LOCKING_OK` (PKCS#11 v2.40
//! §5.4, C_Initialize), re-initialising it if something else in the process got
//! there first without it.
//!
//! Why each session signs with a session copy of the key: SoftHSM2 (2.6) re-checks
//! a token object against its files on every attribute read, and does so under one
//! mutex per token (`OSToken::index` -> `Generation::wasUpdated`: open, fcntl-lock
//! and read the token's generation file while holding `genMutex`). C_SignInit reads
//! several attributes of the key, so every signature of every thread of the process
//! queues on that one mutex and its file I/O; processes do not share it, threads
//! do. C_CopyObject with CKA_TOKEN=false (PKCS#11 v2.40 §4.4.1, §5.7) makes a
//! session object inside the token's memory, which is never refreshed from disk.
//! The copy inherits CKA_SENSITIVE=true, CKA_EXTRACTABLE=false and CKA_PRIVATE=true
//! (a copy can only tighten the first two: v2.40 §4.9), is checked after the copy,
//! and dies with its session. Nothing leaves the token. See docs/hsm.md.
//!
//! PINs are held as `secrecy` strings (zeroised on drop) and never formatted into
//! an error message.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use porthos_core::sign::{ecdsa_raw_to_der, HashAlg, SigAlg};

/// What went wrong, with the thing that is missing named. Never carries a PIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HsmError {
    /// The module file cannot be loaded (missing, not a PKCS#11 library).
    ModuleNotFound { module: String, detail: String },
    /// No initialised token with this label in any slot of the module.
    TokenNotFound {
        module: String,
        token: String,
        present: Vec<String>,
    },
    /// No private key with this label (CKA_LABEL) in the token.
    KeyNotFound { token: String, key: String },
    /// C_Login returned CKR_PIN_INCORRECT. Never retried: tokens lock after a few
    /// failures (PKCS#11 v2.40 §5.6, C_Login; 000 §6.4.1).
    PinIncorrect { token: String },
    /// C_Login returned CKR_PIN_LOCKED.
    PinLocked { token: String },
    /// Any other PKCS#11 failure: the function and the CKR_ code.
    Call { function: &'static str, rv: String },
    /// A batch argument the pool cannot use.
    Argument(String),
}

impl fmt::Display for HsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HsmError::ModuleNotFound { module, detail } => {
                write!(f, "PKCS#11 module {module} cannot be loaded: {detail}")
            }
            HsmError::TokenNotFound {
                module,
                token,
                present,
            } => {
                let list = if present.is_empty() {
                    "none".to_string()
                } else {
                    present.join(", ")
                };
                write!(f, "no token labelled '{token}' in PKCS#11 module {module} (tokens present: {list})")
            }
            HsmError::KeyNotFound { token, key } => {
                write!(f, "no private key labelled '{key}' in token '{token}'")
            }
            HsmError::PinIncorrect { token } => {
                write!(
                    f,
                    "PIN incorrect for token '{token}' (CKR_PIN_INCORRECT); not retried"
                )
            }
            HsmError::PinLocked { token } => write!(
                f,
                "the user PIN of token '{token}' is locked (CKR_PIN_LOCKED)"
            ),
            HsmError::Call { function, rv } => write!(f, "PKCS#11 {function} failed: {rv}"),
            HsmError::Argument(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for HsmError {}

/// The CKR_ code of a cryptoki error, without cryptoki's long prose.
fn rv_name(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, _) => format!("CKR_{}", upper_snake(&format!("{rv:?}"))),
        other => other.to_string(),
    }
}

fn upper_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn call_err(function: &'static str) -> impl Fn(CkError) -> HsmError {
    move |e| HsmError::Call {
        function,
        rv: rv_name(&e),
    }
}

fn rv_of(e: &CkError) -> Option<RvError> {
    match e {
        CkError::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

// --------------------------------------------------------------------------------------
// Modules
// --------------------------------------------------------------------------------------

fn modules() -> &'static Mutex<HashMap<PathBuf, Pkcs11>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    MODULES.get_or_init(|| Mutex::new(HashMap::new()))
}

fn os_locking() -> CInitializeArgs {
    CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)
}

/// Load `path` once per process and leave it initialised with `CKF_OS_LOCKING_OK`.
///
/// The context is kept for the life of the process and never finalised: C_Finalize
/// would pull the module from under python-pkcs11, which shares the same instance
/// (dlopen returns one handle per library). If the module is already initialised
/// (python-pkcs11 does `C_Initialize(NULL)`), it is finalised and initialised again
/// with OS locking; callers (porthos.hsm.load_module) do this right after
/// python-pkcs11 loaded it, before any session exists.
pub fn load_module(path: &Path) -> Result<Pkcs11, HsmError> {
    let key = path.canonicalize().map_err(|e| HsmError::ModuleNotFound {
        module: path.display().to_string(),
        detail: e.to_string(),
    })?;
    let mut map = modules().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(ctx) = map.get(&key) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(&key).map_err(|e| HsmError::ModuleNotFound {
        module: path.display().to_string(),
        detail: e.to_string(),
    })?;
    match ctx.initialize(os_locking()) {
        Ok(()) => {}
        Err(e) if rv_of(&e) == Some(RvError::CryptokiAlreadyInitialized) => {
            ctx.clone().finalize().map_err(call_err("C_Finalize"))?;
            ctx.initialize(os_locking())
                .map_err(call_err("C_Initialize"))?;
        }
        Err(e) => return Err(call_err("C_Initialize")(e)),
    }
    map.insert(key, ctx.clone());
    Ok(ctx)
}

/// The slot holding the initialised token labelled `label`.
pub fn find_token(ctx: &Pkcs11, module: &str, label: &str) -> Result<Slot, HsmError> {
    let slots = ctx
        .get_slots_with_initialized_token()
        .map_err(call_err("C_GetSlotList"))?;
    let mut present = Vec::new();
    for slot in slots {
        let info = ctx
            .get_token_info(slot)
            .map_err(call_err("C_GetTokenInfo"))?;
        let l = info.label().trim_end().to_string();
        if l == label {
            return Ok(slot);
        }
        present.push(l);
    }
    Err(HsmError::TokenNotFound {
        module: module.to_string(),
        token: label.to_string(),
        present,
    })
}

/// Initialise a token (C_InitToken) in the first slot whose token is not
/// initialised yet, then set its user PIN (C_InitPIN in an SO session).
/// python-pkcs11 0.10.1 has no C_InitToken, hence this. Fails if a token with the
/// label already exists (re-initialising would destroy its keys).
pub fn init_token(
    path: &Path,
    label: &str,
    so_pin: &AuthPin,
    user_pin: &AuthPin,
) -> Result<(), HsmError> {
    let ctx = load_module(path)?;
    let module = path.display().to_string();
    if find_token(&ctx, &module, label).is_ok() {
        return Err(HsmError::Argument(format!(
            "a token labelled '{label}' already exists in {module}"
        )));
    }
    let mut free = None;
    for slot in ctx
        .get_slots_with_token()
        .map_err(call_err("C_GetSlotList"))?
    {
        let info = ctx
            .get_token_info(slot)
            .map_err(call_err("C_GetTokenInfo"))?;
        if !info.token_initialized() {
            free = Some(slot);
            break;
        }
    }
    let slot = free.ok_or_else(|| HsmError::TokenNotFound {
        module: module.clone(),
        token: "(any uninitialised token)".into(),
        present: Vec::new(),
    })?;
    ctx.init_token(slot, so_pin, label)
        .map_err(call_err("C_InitToken"))?;
    // SoftHSM2 moves an initialised token to a new slot ID: look it up by label.
    let slot = find_token(&ctx, &module, label)?;
    let session = ctx
        .open_rw_session(slot)
        .map_err(call_err("C_OpenSession"))?;
    session
        .login(UserType::So, Some(so_pin))
        .map_err(|e| match rv_of(&e) {
            Some(RvError::PinIncorrect) => HsmError::PinIncorrect {
                token: label.to_string(),
            },
            _ => call_err("C_Login")(e),
        })?;
    session.init_pin(user_pin).map_err(call_err("C_InitPIN"))?;
    session.logout().map_err(call_err("C_Logout"))?;
    Ok(())
}

/// Close every session this process has on the token (C_CloseAllSessions). The
/// login state ends with the last session (PKCS#11 v2.40 §5.6). Used to end a root
/// activation and, in tests, to kill a pool's sessions from outside.
pub fn close_all_sessions(path: &Path, token: &str) -> Result<(), HsmError> {
    let ctx = load_module(path)?;
    let slot = find_token(&ctx, &path.display().to_string(), token)?;
    // cryptoki 0.12 does not wrap C_CloseAllSessions: call it through the module's
    // own function list (dlopen hands back the already-loaded, initialised instance).
    let module = path.canonicalize().map_err(|e| HsmError::ModuleNotFound {
        module: path.display().to_string(),
        detail: e.to_string(),
    })?;
    // SAFETY: the library is a PKCS#11 module already loaded and initialised by
    // load_module; C_GetFunctionList fills a pointer to a static table it owns.
    unsafe {
        let lib = cryptoki_sys::Pkcs11::new(&module).map_err(|e| HsmError::ModuleNotFound {
            module: path.display().to_string(),
            detail: e.to_string(),
        })?;
        let mut list: *mut cryptoki_sys::CK_FUNCTION_LIST = std::ptr::null_mut();
        let rv = lib.C_GetFunctionList(&mut list);
        if rv != cryptoki_sys::CKR_OK || list.is_null() {
            return Err(HsmError::Call {
                function: "C_GetFunctionList",
                rv: format!("0x{rv:x}"),
            });
        }
        let close = (*list).C_CloseAllSessions.ok_or(HsmError::Call {
            function: "C_CloseAllSessions",
            rv: "not provided by the module".into(),
        })?;
        let rv = close(slot.id() as cryptoki_sys::CK_SLOT_ID);
        if rv != cryptoki_sys::CKR_OK {
            return Err(HsmError::Call {
                function: "C_CloseAllSessions",
                rv: format!("0x{rv:x}"),
            });
        }
    }
    Ok(())
}

// --------------------------------------------------------------------------------------
// Signing
// --------------------------------------------------------------------------------------

/// DigestInfo prefixes for CKM_RSA_PKCS (RFC 8017 §9.2, note 1).
const DIGEST_INFO_SHA256: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const DIGEST_INFO_SHA384: [u8; 19] = [
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];

/// The mechanism for a signature algorithm over a precomputed digest.
fn mechanism(alg: SigAlg) -> Mechanism<'static> {
    match alg {
        SigAlg::EcdsaSha256 | SigAlg::EcdsaSha384 => Mechanism::Ecdsa,
        SigAlg::RsaPkcs1Sha256 | SigAlg::RsaPkcs1Sha384 => Mechanism::RsaPkcs,
        // RFC 4055 §3.1 as porthos encodes it (sign.rs): MGF1 with the same hash,
        // salt length = hash length.
        SigAlg::RsaPssSha256 => Mechanism::RsaPkcsPss(PkcsPssParams {
            hash_alg: MechanismType::SHA256,
            mgf: PkcsMgfType::MGF1_SHA256,
            s_len: 32.into(),
        }),
        SigAlg::RsaPssSha384 => Mechanism::RsaPkcsPss(PkcsPssParams {
            hash_alg: MechanismType::SHA384,
            mgf: PkcsMgfType::MGF1_SHA384,
            s_len: 48.into(),
        }),
    }
}

/// The octets handed to C_Sign for one digest.
fn sign_input(alg: SigAlg, digest: &[u8], buf: &mut Vec<u8>) {
    buf.clear();
    match alg {
        SigAlg::RsaPkcs1Sha256 => buf.extend_from_slice(&DIGEST_INFO_SHA256),
        SigAlg::RsaPkcs1Sha384 => buf.extend_from_slice(&DIGEST_INFO_SHA384),
        _ => {}
    }
    buf.extend_from_slice(digest);
}

/// Per-item outcome codes (porthos.status.HsmItemStatus). Stable numbers.
pub const ITEM_OK: u8 = 0;
/// The session was lost (invalid handle, device removed), reopened, and the retry failed too.
pub const ITEM_SESSION_LOST: u8 = 1;
/// Another PKCS#11 error for this item (the reason names the function and CKR_ code).
pub const ITEM_HSM_ERROR: u8 = 2;
/// Every item status with the name of its porthos.status.HsmItemStatus member
/// (exported to Python as `_native.HSM_ITEM_STATUS`; a test holds the two equal).
pub const ITEM_STATUSES: [(&str, u8); 3] = [
    ("OK", ITEM_OK),
    ("SESSION_LOST", ITEM_SESSION_LOST),
    ("HSM_ERROR", ITEM_HSM_ERROR),
];

/// Result of one batch: one slot per digest.
pub struct SignOutcome {
    pub signatures: Vec<Option<Vec<u8>>>,
    pub status: Vec<u8>,
    pub reasons: Vec<String>,
    /// Nanoseconds per C_SignInit+C_Sign of each item (retry included).
    pub latency_ns: Vec<u64>,
    /// How many sessions were reopened during the batch.
    pub reopened: usize,
}

/// Errors after which a fresh session may succeed (PKCS#11 v2.40 §5.1: removing a
/// token closes all its sessions; C_CloseAllSessions logs the user out).
fn session_lost(rv: Option<RvError>) -> bool {
    matches!(
        rv,
        Some(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::UserNotLoggedIn
                | RvError::DeviceError
        )
    )
}

/// One signed (or failed) item as a worker reports it: index, signature or
/// (status, reason), nanoseconds, sessions reopened for it.
type ItemDone = (usize, Result<Vec<u8>, (u8, String)>, u64, usize);

struct Worker {
    session: Session,
    /// The key C_SignInit uses: a session copy of the token key when the module
    /// allowed one ([`Pool::session_key`]), else the token object itself.
    key: ObjectHandle,
    key_is_session_copy: bool,
}

/// Where the workers' signing key lives (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPlacement {
    /// Each session signs with its own session object copied from the token key
    /// (C_CopyObject, CKA_TOKEN=false; still sensitive and non-extractable). Falls
    /// back to the token object when the module refuses the copy (CKA_COPYABLE=false,
    /// CKR_FUNCTION_NOT_SUPPORTED, ...).
    SessionCopy,
    /// Every session signs with the token object (SoftHSM2: serialised per token).
    TokenObject,
}

/// C_CopyObject of the token key into a session object of `session` (PKCS#11 v2.40
/// §5.7) with CKA_TOKEN=false; every other attribute is copied. The template does
/// not name CKA_SENSITIVE/CKA_EXTRACTABLE: SoftHSM2 answers CKR_ATTRIBUTE_READ_ONLY
/// even for the values they already have. Instead the copy is read back and used
/// only if it is private, sensitive and not extractable; otherwise it is destroyed.
/// `None` when the module refuses (CKA_COPYABLE=false gives CKR_ACTION_PROHIBITED)
/// or the check fails: the caller then signs with the token object, always correct.
fn session_copy(session: &Session, token_key: ObjectHandle) -> Option<ObjectHandle> {
    let template = [Attribute::Token(false)];
    let copy = session.copy_object(token_key, &template).ok()?;
    let attrs = session
        .get_attributes(
            copy,
            &[
                AttributeType::Token,
                AttributeType::Private,
                AttributeType::Sensitive,
                AttributeType::Extractable,
            ],
        )
        .unwrap_or_default();
    let mut seen = 0;
    for a in &attrs {
        match a {
            Attribute::Token(false)
            | Attribute::Private(true)
            | Attribute::Sensitive(true)
            | Attribute::Extractable(false) => seen += 1,
            _ => {}
        }
    }
    if seen == 4 {
        Some(copy)
    } else {
        let _ = session.destroy_object(copy);
        None
    }
}

/// A fixed set of sessions on one token, each used by one worker thread at a time,
/// all signing with one private key. One C_Login covers every session of the
/// process on that token (PKCS#11 v2.40 §5.6), so the pool logs in once.
pub struct Pool {
    ctx: Pkcs11,
    module: String,
    slot: Slot,
    token: String,
    key_label: String,
    alg: SigAlg,
    pin: AuthPin,
    /// Set once C_Login refused the PIN: no session is reopened after that, so a
    /// batch can never turn into a loop of failed logins that locks the token.
    pin_refused: AtomicBool,
    placement: KeyPlacement,
    workers: Vec<Mutex<Option<Worker>>>,
}

impl Pool {
    /// Open `sessions` sessions on token `token` of module `module`, log in once
    /// with `pin` and find the private key labelled `key_label`; each session signs
    /// with a session copy of it ([`KeyPlacement::SessionCopy`]).
    pub fn open(
        module: &Path,
        token: &str,
        key_label: &str,
        alg: SigAlg,
        pin: AuthPin,
        sessions: usize,
    ) -> Result<Pool, HsmError> {
        Self::open_with(
            module,
            token,
            key_label,
            alg,
            pin,
            sessions,
            KeyPlacement::SessionCopy,
        )
    }

    /// [`Pool::open`] with the key placement chosen (the benchmark compares both).
    pub fn open_with(
        module: &Path,
        token: &str,
        key_label: &str,
        alg: SigAlg,
        pin: AuthPin,
        sessions: usize,
        placement: KeyPlacement,
    ) -> Result<Pool, HsmError> {
        if sessions == 0 {
            return Err(HsmError::Argument("sessions: must be at least 1".into()));
        }
        let ctx = load_module(module)?;
        let module_name = module.display().to_string();
        let slot = find_token(&ctx, &module_name, token)?;
        let mut pool = Pool {
            ctx,
            module: module_name,
            slot,
            token: token.to_string(),
            key_label: key_label.to_string(),
            alg,
            pin,
            pin_refused: AtomicBool::new(false),
            placement,
            workers: Vec::with_capacity(sessions),
        };
        for _ in 0..sessions {
            let w = pool.open_worker()?;
            pool.workers.push(Mutex::new(Some(w)));
        }
        Ok(pool)
    }

    fn login(&self, session: &Session) -> Result<(), HsmError> {
        if self.pin_refused.load(Ordering::Acquire) {
            return Err(HsmError::PinIncorrect {
                token: self.token.clone(),
            });
        }
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) => Ok(()),
            Err(e) => match rv_of(&e) {
                // Another session of this process already logged the user in.
                Some(RvError::UserAlreadyLoggedIn) => Ok(()),
                Some(RvError::PinIncorrect) => {
                    self.pin_refused.store(true, Ordering::Release);
                    Err(HsmError::PinIncorrect {
                        token: self.token.clone(),
                    })
                }
                Some(RvError::PinLocked) => {
                    self.pin_refused.store(true, Ordering::Release);
                    Err(HsmError::PinLocked {
                        token: self.token.clone(),
                    })
                }
                _ => Err(call_err("C_Login")(e)),
            },
        }
    }

    fn open_worker(&self) -> Result<Worker, HsmError> {
        // Read-only sessions suffice to sign with a token key (PKCS#11 v2.40 §5.6).
        let session = match self.ctx.open_ro_session(self.slot) {
            Ok(s) => s,
            Err(e) if session_lost(rv_of(&e)) || rv_of(&e) == Some(RvError::SlotIdInvalid) => {
                // The token may have moved slots (removed and re-inserted): look again.
                return Err(match find_token(&self.ctx, &self.module, &self.token) {
                    Err(missing) => missing,
                    Ok(_) => call_err("C_OpenSession")(e),
                });
            }
            Err(e) => return Err(call_err("C_OpenSession")(e)),
        };
        self.login(&session)?;
        // CKA_TOKEN=true: only the token key, never another worker's session copy
        // (session objects are visible to every session of the application).
        let template = [
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Token(true),
            Attribute::Label(self.key_label.as_bytes().to_vec()),
        ];
        let found = session
            .find_objects(&template)
            .map_err(call_err("C_FindObjects"))?;
        let token_key = *found.first().ok_or_else(|| HsmError::KeyNotFound {
            token: self.token.clone(),
            key: self.key_label.clone(),
        })?;
        let copy = match self.placement {
            KeyPlacement::SessionCopy => session_copy(&session, token_key),
            KeyPlacement::TokenObject => None,
        };
        Ok(match copy {
            Some(key) => Worker {
                session,
                key,
                key_is_session_copy: true,
            },
            None => Worker {
                session,
                key: token_key,
                key_is_session_copy: false,
            },
        })
    }

    /// True once C_Login refused the PIN: the pool will not log in again.
    pub fn pin_refused(&self) -> bool {
        self.pin_refused.load(Ordering::Acquire)
    }

    /// The key placement asked for at open.
    pub fn placement(&self) -> KeyPlacement {
        self.placement
    }

    /// How many open sessions sign with a session copy of the key (the others, if
    /// any, use the token object because the module refused the copy).
    pub fn session_key_copies(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| {
                w.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .is_some_and(|w| w.key_is_session_copy)
            })
            .count()
    }

    pub fn sessions(&self) -> usize {
        self.workers.len()
    }

    pub fn algorithm(&self) -> SigAlg {
        self.alg
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn key_label(&self) -> &str {
        &self.key_label
    }

    /// Close every session of the pool (the worker slots stay, empty; a later batch
    /// reopens them).
    pub fn close(&self) {
        for w in &self.workers {
            w.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
    }

    /// Sign one digest on a worker; on a lost session reopen it and retry once.
    fn sign_one(
        &self,
        slot: &mut Option<Worker>,
        mech: &Mechanism<'_>,
        input: &[u8],
        reopened: &mut usize,
    ) -> Result<Vec<u8>, (u8, String)> {
        let mut lost_before = false;
        for attempt in 0..2 {
            if slot.is_none() {
                match self.open_worker() {
                    Ok(w) => {
                        *slot = Some(w);
                        *reopened += 1;
                    }
                    // The worker has no session only because an earlier item
                    // lost it (or close() was called): a lost session either way.
                    Err(e) => {
                        return Err((ITEM_SESSION_LOST, format!("reopening the session: {e}")))
                    }
                }
            }
            let w = slot.as_ref().expect("set above");
            match w.session.sign(mech, w.key, input) {
                Ok(sig) => return Ok(sig),
                Err(e) if attempt == 0 && session_lost(rv_of(&e)) => {
                    // Drop the dead session; its close fails quietly (handle invalid).
                    *slot = None;
                    lost_before = true;
                }
                Err(e) => {
                    let status = if lost_before {
                        ITEM_SESSION_LOST
                    } else {
                        ITEM_HSM_ERROR
                    };
                    return Err((status, format!("C_Sign: {}", rv_name(&e))));
                }
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// Sign `digests` (n rows of `hash_len` octets, concatenated) on all sessions in
    /// parallel. Never fails as a whole once the arguments are right: a failed item
    /// gets a status and a reason, and the batch goes on.
    pub fn sign_digests(&self, digests: &[u8], hash: HashAlg) -> Result<SignOutcome, HsmError> {
        let hl = hash.output_len();
        if hash != self.alg.hash() {
            return Err(HsmError::Argument(format!(
                "digests are {hash:?}, the key signs {} (hash {:?})",
                self.alg.name(),
                self.alg.hash()
            )));
        }
        if !digests.len().is_multiple_of(hl) {
            return Err(HsmError::Argument(format!(
                "digests: {} octets is not a whole number of {hl}-octet digests",
                digests.len()
            )));
        }
        let n = digests.len() / hl;
        let threads = self.workers.len().min(n.max(1));
        // Chunks small enough to balance the workers, large enough that the shared
        // counter is not contended.
        let chunk = (n / (threads * 16)).clamp(1, 64);
        let next = AtomicUsize::new(0);
        let run = |wi: usize| -> Vec<ItemDone> {
            let mut guard = self.workers[wi].lock().unwrap_or_else(|p| p.into_inner());
            let mut out = Vec::new();
            let mut buf = Vec::with_capacity(19 + hl);
            // Built per thread: a Mechanism holds raw pointers and is not Sync.
            let mech = mechanism(self.alg);
            loop {
                let start = next.fetch_add(chunk, Ordering::Relaxed);
                if start >= n {
                    break;
                }
                for i in start..(start + chunk).min(n) {
                    sign_input(self.alg, &digests[i * hl..(i + 1) * hl], &mut buf);
                    let mut reopened = 0;
                    let t = Instant::now();
                    let r = self.sign_one(&mut guard, &mech, &buf, &mut reopened);
                    let ns = t.elapsed().as_nanos() as u64;
                    out.push((i, r, ns, reopened));
                }
            }
            out
        };
        let parts: Vec<_> = if threads <= 1 {
            vec![run(0)]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads).map(|wi| s.spawn(move || run(wi))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_default())
                    .collect()
            })
        };
        let mut outcome = SignOutcome {
            signatures: vec![None; n],
            status: vec![ITEM_HSM_ERROR; n],
            reasons: vec!["not signed (worker thread failed)".to_string(); n],
            latency_ns: vec![0; n],
            reopened: 0,
        };
        for part in parts {
            for (i, r, ns, reopened) in part {
                outcome.latency_ns[i] = ns;
                outcome.reopened += reopened;
                match r {
                    Ok(raw) => {
                        let sig = if self.alg.is_ecdsa() {
                            ecdsa_raw_to_der(&raw)
                        } else {
                            Some(raw)
                        };
                        match sig {
                            Some(sig) => {
                                outcome.signatures[i] = Some(sig);
                                outcome.status[i] = ITEM_OK;
                                outcome.reasons[i].clear();
                            }
                            None => {
                                outcome.status[i] = ITEM_HSM_ERROR;
                                outcome.reasons[i] =
                                    "CKM_ECDSA returned a signature that is not r||s".into();
                            }
                        }
                    }
                    Err((status, reason)) => {
                        outcome.status[i] = status;
                        outcome.reasons[i] = reason;
                    }
                }
            }
        }
        Ok(outcome)
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The PIN is deliberately absent.
        f.debug_struct("Pool")
            .field("module", &self.module)
            .field("token", &self.token)
            .field("key", &self.key_label)
            .field("algorithm", &self.alg.name())
            .field("sessions", &self.workers.len())
            .field("key_placement", &self.placement)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ckr_names() {
        assert_eq!(upper_snake("PinIncorrect"), "PIN_INCORRECT");
        assert_eq!(
            upper_snake("SessionHandleInvalid"),
            "SESSION_HANDLE_INVALID"
        );
    }

    #[test]
    fn digest_info_prefixes_match_rfc8017() {
        // RFC 8017 §9.2 note 1: the DER of DigestInfo up to the digest octets.
        assert_eq!(DIGEST_INFO_SHA256[1] as usize, 17 + 32);
        assert_eq!(DIGEST_INFO_SHA384[1] as usize, 17 + 48);
        assert_eq!(DIGEST_INFO_SHA256[18], 32);
        assert_eq!(DIGEST_INFO_SHA384[18], 48);
    }

    #[test]
    fn missing_module_names_the_path() {
        let e = load_module(Path::new("/nonexistent/libnothing.so")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/libnothing.so"), "{e}");
    }
}
