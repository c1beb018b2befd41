//! The RPKI engine (porthos_core::rpki) for Python: resource sets and their
//! arithmetic, the RFC 3779 / SIA / ROA / manifest encoders and strict parsers, and
//! signed objects one at a time or N per call with one-time keys (GIL released).

use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use porthos_core::der::oid::encode_oid;
use porthos_core::rpki::batch::{generate_ee_keys, issue_signed_objects, ObjectItem};
use porthos_core::rpki::rfc3779::{self, Afi, Choice};
use porthos_core::rpki::signed_object::{self, write_signed_object, SignedObjectInput};
use porthos_core::rpki::{manifest, roa, sia, IntervalSet};
use porthos_core::template::ItemError;
use porthos_core::x509::name_encode;

use crate::args::{byte_items, check_len, i64_items};
use crate::batch::DerBatch;
use crate::error::{NativeError, NativeResult};
use crate::keys::SoftwareKey;
use crate::template::Template;
use crate::threads::{pool, run_in};

type Ranges = Vec<(u128, u128)>;

fn bytes(py: Python<'_>, b: &[u8]) -> Py<PyBytes> {
    PyBytes::new(py, b).unbind()
}

fn family(v: Ranges, max: u128, what: &str) -> NativeResult<IntervalSet> {
    if let Some(&(lo, hi)) = v.iter().find(|&&(lo, hi)| lo > hi || hi > max) {
        return Err(NativeError::Encode(format!(
            "{what}: interval ({lo}, {hi}) is reversed or outside 0..={max}"
        )));
    }
    Ok(IntervalSet::from_intervals(v).expect("checked"))
}

/// AS numbers, IPv4 and IPv6 addresses as canonical interval sets (RFC 3779 §2.2.3.6).
#[pyclass(frozen, eq, hash, module = "porthos._native")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResourceSet {
    asn: IntervalSet,
    ipv4: IntervalSet,
    ipv6: IntervalSet,
}

impl ResourceSet {
    fn zip(&self, o: &Self, f: impl Fn(&IntervalSet, &IntervalSet) -> IntervalSet) -> Self {
        ResourceSet {
            asn: f(&self.asn, &o.asn),
            ipv4: f(&self.ipv4, &o.ipv4),
            ipv6: f(&self.ipv6, &o.ipv6),
        }
    }
}

fn choice(set: &IntervalSet, inherit: bool) -> Option<Choice> {
    if inherit {
        Some(Choice::Inherit)
    } else if set.is_empty() {
        None
    } else {
        Some(Choice::Set(set.clone()))
    }
}

#[pymethods]
impl ResourceSet {
    /// Intervals (lo, hi), inclusive, in any order: they are sorted and merged.
    #[new]
    #[pyo3(signature = (*, asn = Vec::new(), ipv4 = Vec::new(), ipv6 = Vec::new()))]
    fn new(asn: Ranges, ipv4: Ranges, ipv6: Ranges) -> NativeResult<Self> {
        Ok(ResourceSet {
            asn: family(asn, u32::MAX.into(), "asn")?,
            ipv4: family(ipv4, Afi::Ipv4.max(), "ipv4")?,
            ipv6: family(ipv6, Afi::Ipv6.max(), "ipv6")?,
        })
    }
    #[getter]
    fn asn(&self) -> Ranges {
        self.asn.ranges().to_vec()
    }
    #[getter]
    fn ipv4(&self) -> Ranges {
        self.ipv4.ranges().to_vec()
    }
    #[getter]
    fn ipv6(&self) -> Ranges {
        self.ipv6.ranges().to_vec()
    }
    fn is_empty(&self) -> bool {
        self.asn.is_empty() && self.ipv4.is_empty() && self.ipv6.is_empty()
    }
    fn union(&self, other: &Self) -> Self {
        self.zip(other, IntervalSet::union)
    }
    fn intersection(&self, other: &Self) -> Self {
        self.zip(other, IntervalSet::intersection)
    }
    fn difference(&self, other: &Self) -> Self {
        self.zip(other, IntervalSet::difference)
    }
    fn is_subset(&self, other: &Self) -> bool {
        self.asn.is_subset(&other.asn)
            && self.ipv4.is_subset(&other.ipv4)
            && self.ipv6.is_subset(&other.ipv6)
    }
    /// IPAddrBlocks extnValue (RFC 3779 §2.2.3) of the IP families present (or
    /// inherited); None when there is neither.
    #[pyo3(signature = (*, inherit_ipv4 = false, inherit_ipv6 = false))]
    fn ip_addr_blocks_der(
        &self,
        py: Python<'_>,
        inherit_ipv4: bool,
        inherit_ipv6: bool,
    ) -> NativeResult<Option<Py<PyBytes>>> {
        let v4 = choice(&self.ipv4, inherit_ipv4);
        let v6 = choice(&self.ipv6, inherit_ipv6);
        if v4.is_none() && v6.is_none() {
            return Ok(None);
        }
        let der = rfc3779::encode_ip_addr_blocks(v4.as_ref(), v6.as_ref())
            .map_err(|e| NativeError::Encode(e.to_string()))?;
        Ok(Some(bytes(py, &der)))
    }
    /// ASIdentifiers extnValue (RFC 3779 §3.2.3, asnum only); None when empty and
    /// not inherited.
    #[pyo3(signature = (*, inherit = false))]
    fn as_identifiers_der(
        &self,
        py: Python<'_>,
        inherit: bool,
    ) -> NativeResult<Option<Py<PyBytes>>> {
        match choice(&self.asn, inherit) {
            None => Ok(None),
            Some(c) => Ok(Some(bytes(
                py,
                &rfc3779::encode_as_identifiers(&c)
                    .map_err(|e| NativeError::Encode(e.to_string()))?,
            ))),
        }
    }
    /// Parse the two extnValues strictly (either may be None). Returns the explicit
    /// resources and the kinds marked inherit ("asn", "ipv4", "ipv6").
    #[staticmethod]
    #[pyo3(signature = (ip_addr_blocks = None, as_identifiers = None))]
    fn from_der(
        ip_addr_blocks: Option<&[u8]>,
        as_identifiers: Option<&[u8]>,
    ) -> NativeResult<(ResourceSet, Vec<&'static str>)> {
        let mut out = ResourceSet {
            asn: IntervalSet::new(),
            ipv4: IntervalSet::new(),
            ipv6: IntervalSet::new(),
        };
        let mut inherit = Vec::new();
        let mut put = |c: Option<Choice>, slot: &mut IntervalSet, name: &'static str| match c {
            Some(Choice::Inherit) => inherit.push(name),
            Some(Choice::Set(s)) => *slot = s,
            None => {}
        };
        if let Some(der) = as_identifiers {
            let c = rfc3779::parse_as_identifiers(der).map_err(NativeError::Decode)?;
            put(Some(c), &mut out.asn, "asn");
        }
        if let Some(der) = ip_addr_blocks {
            let (v4, v6) = rfc3779::parse_ip_addr_blocks(der).map_err(NativeError::Decode)?;
            put(v4, &mut out.ipv4, "ipv4");
            put(v6, &mut out.ipv6, "ipv6");
        }
        Ok((out, inherit))
    }
    fn __repr__(&self) -> String {
        format!(
            "ResourceSet(asn={:?}, ipv4={:?}, ipv6={:?})",
            self.asn.ranges(),
            self.ipv4.ranges(),
            self.ipv6.ranges()
        )
    }
}

fn method(name: &str) -> NativeResult<sia::AccessMethod> {
    sia::AccessMethod::parse(name).ok_or_else(|| {
        NativeError::Encode(format!(
            "unknown access method '{name}' (ca_repository, rpki_manifest, rpki_notify, signed_object)"
        ))
    })
}

/// SubjectInfoAccessSyntax DER from (method, URI) pairs, in the order given.
#[pyfunction]
pub fn rpki_sia(py: Python<'_>, entries: Vec<(String, String)>) -> NativeResult<Py<PyBytes>> {
    let mut e = Vec::with_capacity(entries.len());
    for (m, u) in &entries {
        e.push((method(m)?, u.as_str()));
    }
    let der = sia::encode_sia(&e).map_err(|e| NativeError::Encode(e.to_string()))?;
    Ok(bytes(py, &der))
}

/// The RPKI access descriptions of an SIA extnValue, as (method, URI).
#[pyfunction]
pub fn rpki_parse_sia(der: &[u8]) -> NativeResult<Vec<(&'static str, String)>> {
    Ok(sia::parse_sia(der)
        .map_err(NativeError::Decode)?
        .into_iter()
        .map(|(m, u)| (m.name(), u))
        .collect())
}

type RoaPrefixArg = (u8, u128, u8, Option<u8>);

fn afi_of(version: u8) -> NativeResult<Afi> {
    match version {
        4 => Ok(Afi::Ipv4),
        6 => Ok(Afi::Ipv6),
        v => Err(NativeError::Encode(format!(
            "IP version {v}: expected 4 or 6"
        ))),
    }
}

/// RouteOriginAttestation DER (RFC 9582) for `asn` and prefixes
/// (version 4|6, address as int, length, maxLength or None), canonicalised.
#[pyfunction]
pub fn rpki_roa(
    py: Python<'_>,
    asn: u32,
    prefixes: Vec<RoaPrefixArg>,
) -> NativeResult<Py<PyBytes>> {
    let mut ps = Vec::with_capacity(prefixes.len());
    for (v, address, length, max_length) in prefixes {
        ps.push(roa::RoaPrefix {
            afi: afi_of(v)?,
            address,
            length,
            max_length,
        });
    }
    let der = roa::encode_roa(asn, &ps).map_err(|e| NativeError::Encode(e.to_string()))?;
    Ok(bytes(py, &der))
}

/// Parse a ROA eContent strictly: (asn, [(version, address, length, maxLength|None)]).
#[pyfunction]
pub fn rpki_parse_roa(der: &[u8]) -> NativeResult<(u32, Vec<RoaPrefixArg>)> {
    let r = roa::parse_roa(der).map_err(NativeError::Decode)?;
    let ps = r
        .prefixes
        .iter()
        .map(|p| {
            let v = if p.afi == Afi::Ipv4 { 4 } else { 6 };
            (v, p.address, p.length, p.max_length)
        })
        .collect();
    Ok((r.asn, ps))
}

/// Manifest eContent DER (RFC 9286 §4.2). `number`: big-endian magnitude.
#[pyfunction]
pub fn rpki_manifest(
    py: Python<'_>,
    number: &[u8],
    this_update: i64,
    next_update: i64,
    files: Vec<(String, Vec<u8>)>,
) -> NativeResult<Py<PyBytes>> {
    let list: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, h)| (n.as_str(), h.as_slice()))
        .collect();
    let der = manifest::encode_manifest(number, this_update, next_update, &list)
        .map_err(|e| NativeError::Encode(e.to_string()))?;
    Ok(bytes(py, &der))
}

type ManifestTuple = (Py<PyBytes>, i64, i64, Vec<(String, Py<PyBytes>)>);

/// Parse a manifest eContent strictly: (number magnitude, thisUpdate, nextUpdate,
/// [(file, sha256)]).
#[pyfunction]
pub fn rpki_parse_manifest(py: Python<'_>, der: &[u8]) -> NativeResult<ManifestTuple> {
    let m = manifest::parse_manifest(der).map_err(NativeError::Decode)?;
    Ok((
        bytes(py, &m.number),
        m.this_update,
        m.next_update,
        m.files
            .iter()
            .map(|(n, h)| (n.clone(), bytes(py, h)))
            .collect(),
    ))
}

/// "roa", "manifest" or a dotted OID → OID content octets.
fn content_type(name: &str) -> NativeResult<Vec<u8>> {
    match name {
        "roa" => Ok(signed_object::ID_CT_ROA.to_vec()),
        "manifest" => Ok(signed_object::ID_CT_MANIFEST.to_vec()),
        dotted => encode_oid(dotted).map_err(|e| NativeError::Encode(format!("content_type: {e}"))),
    }
}

fn item_error(i: usize, e: ItemError) -> NativeError {
    match e {
        ItemError::Sign(s) => NativeError::Sign(format!("item {i}: {s}")),
        ItemError::Encode(d) => NativeError::Encode(format!("item {i}: {d}")),
    }
}

/// One RFC 6488 signed object, signed by `ee_key` (RSA PKCS#1 SHA-256), whose
/// certificate `ee_certificate` it carries.
#[pyfunction]
pub fn rpki_signed_object(
    py: Python<'_>,
    ee_key: &SoftwareKey,
    ee_certificate: &[u8],
    content_type_name: &str,
    content: &[u8],
    signing_time: i64,
) -> NativeResult<Py<PyBytes>> {
    let ct = content_type(content_type_name)?;
    let der = write_signed_object(
        &SignedObjectInput {
            content_type: &ct,
            content,
            ee_certificate,
            signing_time,
        },
        &ee_key.inner,
    )
    .map_err(|e| item_error(0, e))?;
    Ok(bytes(py, &der))
}

fn opt_items(
    obj: Option<&Bound<'_, PyAny>>,
    name: &str,
    n: usize,
) -> NativeResult<Vec<Option<Vec<u8>>>> {
    match obj {
        None => Ok(vec![None; n]),
        Some(o) if o.is_none() => Ok(vec![None; n]),
        Some(o) => {
            let v: Vec<Option<Vec<u8>>> = o.extract().map_err(|_| {
                NativeError::Batch(format!("{name}: expected a sequence of bytes or None"))
            })?;
            check_len(name, v.len(), n)?;
            Ok(v)
        }
    }
}

/// One-time RSA-2048 EE keys generated ahead of need (issue 18 §6: publishing is bound
/// by key generation, so keys are made on all cores before the objects that use them).
/// `rpki_sign_objects(..., key_pool=pool)` takes its keys from here; each key leaves
/// the pool when it is used and is never used again (RFC 6487 §3).
#[pyclass(frozen, module = "porthos._native")]
pub struct RsaKeyPool {
    keys: std::sync::Mutex<Vec<porthos_core::sign::SoftwareKey>>,
}

impl RsaKeyPool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<porthos_core::sign::SoftwareKey>> {
        // A panic while holding the lock cannot leave a half-moved key: recover.
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take exactly `n` keys, or none (the pool is untouched when it has fewer).
    pub(crate) fn take(&self, n: usize) -> NativeResult<Vec<porthos_core::sign::SoftwareKey>> {
        let mut keys = self.lock();
        if keys.len() < n {
            return Err(NativeError::Batch(format!(
                "key_pool: {} keys, {n} needed (fill it first)",
                keys.len()
            )));
        }
        let at = keys.len() - n;
        Ok(keys.split_off(at))
    }
}

#[pymethods]
impl RsaKeyPool {
    #[new]
    fn new() -> Self {
        RsaKeyPool {
            keys: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Generate `n` more keys (GIL released, all cores or `threads`); returns the
    /// seconds it took.
    #[pyo3(signature = (n, threads = None))]
    fn fill(&self, py: Python<'_>, n: usize, threads: Option<usize>) -> NativeResult<f64> {
        let pool = pool(threads)?;
        let (keys, secs) = py
            .detach(|| {
                run_in(&pool, || {
                    let t0 = Instant::now();
                    generate_ee_keys(n).map(|k| (k, t0.elapsed().as_secs_f64()))
                })
            })
            .map_err(NativeError::Key)?;
        self.lock().extend(keys);
        Ok(secs)
    }

    fn __len__(&self) -> usize {
        self.lock().len()
    }
}

/// The result of rpki_sign_objects.
#[pyclass(frozen, module = "porthos._native", get_all)]
pub struct SignedObjectBatch {
    /// The signed objects (DER ContentInfo), one per item.
    pub objects: Py<DerBatch>,
    /// Their EE certificates, one per item.
    pub certificates: Py<DerBatch>,
    /// Seconds spent generating the one-time RSA-2048 keys (all threads together
    /// counted once: wall time of the phase).
    pub keygen_seconds: f64,
    /// Seconds spent filling, CA-signing and CMS-signing (wall time of the phase).
    pub sign_seconds: f64,
}

/// N signed objects in one call: N fresh RSA-2048 keys (phase 1), then per item an
/// EE certificate from `template` signed by `ca_key` and the CMS signed by the
/// item's key (phase 2); the GIL is released for both.
#[pyfunction]
#[pyo3(signature = (template, ca_key, *, content_type, contents, serials, not_before, not_after, subjects, sias = None, ip_addr_blocks = None, as_identifiers = None, signing_time, threads = None, key_pool = None))]
#[allow(clippy::too_many_arguments)]
pub fn rpki_sign_objects(
    py: Python<'_>,
    template: &Template,
    ca_key: &SoftwareKey,
    content_type: &str,
    contents: &Bound<'_, PyAny>,
    serials: &Bound<'_, PyAny>,
    not_before: &Bound<'_, PyAny>,
    not_after: &Bound<'_, PyAny>,
    subjects: &Bound<'_, PyAny>,
    sias: Option<&Bound<'_, PyAny>>,
    ip_addr_blocks: Option<&Bound<'_, PyAny>>,
    as_identifiers: Option<&Bound<'_, PyAny>>,
    signing_time: i64,
    threads: Option<usize>,
    key_pool: Option<&RsaKeyPool>,
) -> NativeResult<SignedObjectBatch> {
    let ct = self::content_type(content_type)?;
    let contents = byte_items(contents, "contents")?;
    let n = contents.len();
    let serials = byte_items(serials, "serials")?;
    check_len("serials", serials.len(), n)?;
    let nb = i64_items(not_before, "not_before")?;
    check_len("not_before", nb.len(), n)?;
    let na = i64_items(not_after, "not_after")?;
    check_len("not_after", na.len(), n)?;
    let subjects: Vec<Vec<(String, String)>> = subjects.extract().map_err(|_| {
        NativeError::Batch(
            "subjects: expected a sequence of [(attribute, value), ...] lists".into(),
        )
    })?;
    check_len("subjects", subjects.len(), n)?;
    let sias = opt_items(sias, "sias", n)?;
    let ips = opt_items(ip_addr_blocks, "ip_addr_blocks", n)?;
    let ases = opt_items(as_identifiers, "as_identifiers", n)?;
    let inner = template.inner();
    // Refuse a CA key that cannot sign this template before any EE key is made.
    if porthos_core::sign::Signer::algorithm(&ca_key.inner) != inner.algorithm() {
        return Err(NativeError::Sign(format!(
            "the CA key signs with {}, the template with {}",
            porthos_core::sign::Signer::algorithm(&ca_key.inner).name(),
            inner.algorithm().name()
        )));
    }
    let pool = pool(threads)?;
    let strings = inner.name_strings();
    // Keys from the pool are taken last, after every argument check, so a refused
    // call leaves the pool as it was; a failure after this point drops the keys
    // taken (they may have been used and are never returned).
    let pooled = key_pool.map(|p| p.take(n)).transpose()?;
    let (objects, certificates, keygen_seconds, sign_seconds) = py.detach(|| {
        run_in(&pool, || -> NativeResult<_> {
            let names: Vec<Vec<u8>> = subjects
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    name_encode::encode_name_with(s, strings)
                        .map_err(|e| NativeError::Encode(format!("subjects[{i}]: {e}")))
                })
                .collect::<NativeResult<_>>()?;
            let t0 = Instant::now();
            let keys = match pooled {
                Some(k) => k,
                None => generate_ee_keys(n).map_err(NativeError::Key)?,
            };
            let keygen = t0.elapsed().as_secs_f64();
            let items: Vec<ObjectItem<'_>> = (0..n)
                .map(|i| ObjectItem {
                    serial: serials.get(i),
                    not_before: nb[i],
                    not_after: na[i],
                    subject: &names[i],
                    sia: sias[i].as_deref(),
                    ip_addr_blocks: ips[i].as_deref(),
                    as_identifiers: ases[i].as_deref(),
                    content: contents.get(i),
                })
                .collect();
            let t1 = Instant::now();
            let out = issue_signed_objects(inner, &ca_key.inner, &keys, &ct, signing_time, &items)
                .map_err(|(i, e)| item_error(i, e))?;
            Ok((
                out.objects,
                out.certificates,
                keygen,
                t1.elapsed().as_secs_f64(),
            ))
        })
    })?;
    Ok(SignedObjectBatch {
        objects: Py::new(py, DerBatch::new(py, objects.0, objects.1)?)?,
        certificates: Py::new(py, DerBatch::new(py, certificates.0, certificates.1)?)?,
        keygen_seconds,
        sign_seconds,
    })
}

/// SHA-256 of each item (manifest file hashes, RFC 9286 §4.2.1), GIL released.
#[pyfunction]
pub fn rpki_sha256(py: Python<'_>, items: &Bound<'_, PyAny>) -> NativeResult<Vec<Py<PyBytes>>> {
    let items = byte_items(items, "items")?;
    let hashes: Vec<[u8; 32]> = py.detach(|| {
        (0..items.len())
            .map(|i| signed_object::sha256(items.get(i)))
            .collect()
    });
    Ok(hashes.iter().map(|h| bytes(py, h)).collect())
}

pub fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ResourceSet>()?;
    m.add_class::<SignedObjectBatch>()?;
    m.add_class::<RsaKeyPool>()?;
    m.add_function(wrap_pyfunction!(rpki_sia, m)?)?;
    m.add_function(wrap_pyfunction!(rpki_parse_sia, m)?)?;
    m.add_function(wrap_pyfunction!(rpki_roa, m)?)?;
    m.add_function(wrap_pyfunction!(rpki_parse_roa, m)?)?;
    m.add_function(wrap_pyfunction!(rpki_manifest, m)?)?;
    m.add_function(wrap_pyfunction!(rpki_parse_manifest, m)?)?;
    m.add_function(wrap_pyfunction!(rpki_signed_object, m)?)?;
    m.add_function(wrap_pyfunction!(rpki_sign_objects, m)?)?;
    m.add_function(wrap_pyfunction!(rpki_sha256, m)?)?;
    Ok(())
}
