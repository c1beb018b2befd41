//! Spec + issuer -> Template. Every check that can fail happens here, once.

use std::collections::HashSet;

use aws_lc_rs::digest;

use super::spec::{ExtensionSpec, TemplateSpec};
use crate::der::oid::encode_oid;
use crate::error::DerError;
use crate::rpki::rfc3779;
use crate::rpki::sia::{self, AccessMethod};
use crate::sign::SigAlg;
use crate::x509::name_encode::NameStrings;
use crate::x509::{cert, ext, name_parse, oids, spki};

/// A profile that does not compile: the JSON path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for SpecError {}

fn spec_err(path: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError {
        path: path.into(),
        message: message.into(),
    }
}

fn from_der(path: &str, e: DerError) -> SpecError {
    let at = if e.path.is_empty() {
        path.to_string()
    } else {
        format!("{path}.{}", e.path)
    };
    spec_err(at, e.kind.to_string())
}

/// Where a per-certificate value goes among the extensions.
#[derive(Debug, Clone)]
pub(crate) enum ExtPiece {
    Fixed(Vec<u8>),
    /// SubjectKeyIdentifier computed from the subject key.
    Ski,
    /// SubjectAltName from the item's GeneralNames; omitted when the item has none.
    San {
        critical: bool,
    },
    /// An extension filled per item from an extnValue DER blob (RPKI SIA and
    /// RFC 3779 resources); omitted when the item has none.
    Blob {
        hole: Hole,
        oid: &'static [u8],
        critical: bool,
    },
}

/// The per-item extension holes filled from DER blobs (`TbsInput` fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hole {
    Sia,
    IpAddrBlocks,
    AsIdentifiers,
}

impl Hole {
    /// The field name in error paths and in the Python arguments.
    pub fn name(self) -> &'static str {
        match self {
            Hole::Sia => "sia",
            Hole::IpAddrBlocks => "ip_addr_blocks",
            Hole::AsIdentifiers => "as_identifiers",
        }
    }
}

/// A compiled certificate profile.
#[derive(Debug, Clone)]
pub struct Template {
    pub(crate) alg: SigAlg,
    pub(crate) alg_id: Vec<u8>,
    /// signature AlgorithmIdentifier followed by the issuer Name: one fixed run.
    pub(crate) sig_and_issuer: Vec<u8>,
    pub(crate) ext_pieces: Vec<ExtPiece>,
    pub(crate) fixed_ext_len: usize,
    /// String types of the subject and directoryName SANs filled in (empty: defaults).
    pub(crate) name_strings: NameStrings,
}

/// keyIdentifier = SHA-1 of the subjectPublicKey BIT STRING value
/// (RFC 5280 §4.2.1.2, method 1). SHA-1 is used as an identifier, not for security.
pub fn key_identifier(spki_der: &[u8]) -> Result<[u8; 20], DerError> {
    let info = spki::parse_spki(spki_der)?;
    Ok(sha1(info.subject_public_key))
}

pub(crate) fn sha1(data: &[u8]) -> [u8; 20] {
    let d = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    let mut out = [0u8; 20];
    out.copy_from_slice(d.as_ref());
    out
}

/// Longest fixed subject key id a spec may give (SHA-512 size; ids are short hashes).
const MAX_KEY_ID: usize = 64;

fn crit(c: Option<bool>, default: bool) -> bool {
    c.unwrap_or(default)
}

impl Template {
    /// Compile `spec_json` for an issuer given by its Name DER and key identifier.
    pub fn compile(
        spec_json: &str,
        issuer_name_der: &[u8],
        issuer_key_id: Option<&[u8]>,
        alg: SigAlg,
    ) -> Result<Template, SpecError> {
        let spec: TemplateSpec = serde_json::from_str(spec_json)
            .map_err(|e| spec_err("", format!("template spec: {e}")))?;
        name_parse::parse_name(issuer_name_der).map_err(|e| from_der("issuer", e))?;
        let name_strings = match &spec.name_strings {
            None => NameStrings::default(),
            Some(table) => {
                let pairs: Vec<(&String, &String)> = table.iter().collect();
                NameStrings::new(&pairs).map_err(|e| spec_err("name_strings", e))?
            }
        };

        let mut pieces: Vec<ExtPiece> = Vec::new();
        let mut seen_types: HashSet<String> = HashSet::new();
        let mut seen_raw: HashSet<Vec<u8>> = HashSet::new();
        for (i, value) in spec.extensions.iter().enumerate() {
            let path = format!("extensions[{i}]");
            let kind = value
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or("")
                .to_string();
            let parsed: ExtensionSpec = serde_json::from_value(value.clone())
                .map_err(|e| spec_err(&path, e.to_string()))?;
            if kind != "raw" && !seen_types.insert(kind.clone()) {
                return Err(spec_err(&path, format!("duplicate extension '{kind}'")));
            }
            let never_critical = |c: Option<bool>, what: &str| {
                // RFC 5280 §4.2.1.1, §4.2.1.2, §4.2.1.13, §4.2.2.1: MUST be non-critical
                // (conforming CAs mark these non-critical).
                if c == Some(true) {
                    Err(spec_err(
                        format!("{path}.critical"),
                        format!("{what} must not be critical"),
                    ))
                } else {
                    Ok(())
                }
            };
            let d = |e: DerError| from_der(&path, e);
            let piece = match parsed {
                ExtensionSpec::AuthorityKeyIdentifier { critical } => {
                    never_critical(critical, "authorityKeyIdentifier")?;
                    let kid = issuer_key_id.ok_or_else(|| {
                        spec_err(&path, "authority_key_identifier needs the issuer's key id")
                    })?;
                    ExtPiece::Fixed(ext::authority_key_identifier(kid))
                }
                ExtensionSpec::SubjectKeyIdentifier {
                    critical,
                    key_id_hex,
                } => {
                    never_critical(critical, "subjectKeyIdentifier")?;
                    match key_id_hex {
                        None => ExtPiece::Ski,
                        Some(h) => {
                            // RFC 5280 §4.2.1.2 leaves the method to the CA; a cross
                            // certificate repeats what the subject CA's request carried
                            // (a template compiled for that one certificate).
                            let id = ext::hex_decode(&h)
                                .filter(|id| !id.is_empty() && id.len() <= MAX_KEY_ID)
                                .ok_or_else(|| {
                                    spec_err(
                                        format!("{path}.key_id_hex"),
                                        format!("expected 1..{MAX_KEY_ID} octets in hex"),
                                    )
                                })?;
                            ExtPiece::Fixed(ext::subject_key_identifier(&id))
                        }
                    }
                }
                ExtensionSpec::CrlDistributionPoints { uris, critical } => {
                    never_critical(critical, "cRLDistributionPoints")?;
                    ExtPiece::Fixed(ext::crl_distribution_points(&uris, "").map_err(d)?)
                }
                ExtensionSpec::AuthorityInfoAccess {
                    ca_issuers,
                    ocsp,
                    critical,
                } => {
                    never_critical(critical, "authorityInfoAccess")?;
                    ExtPiece::Fixed(ext::authority_info_access(&ocsp, &ca_issuers, "").map_err(d)?)
                }
                ExtensionSpec::KeyUsage { usages, critical } => {
                    let mut bits = Vec::new();
                    for (j, u) in usages.iter().enumerate() {
                        let bit = ext::key_usage_bit(u).ok_or_else(|| {
                            spec_err(
                                format!("{path}.usages[{j}]"),
                                format!("unknown key usage '{u}'"),
                            )
                        })?;
                        if bits.contains(&bit) {
                            return Err(spec_err(
                                format!("{path}.usages[{j}]"),
                                format!("duplicate key usage '{u}'"),
                            ));
                        }
                        bits.push(bit);
                    }
                    if bits.is_empty() {
                        // RFC 5280 §4.2.1.3: at least one bit MUST be set.
                        return Err(spec_err(format!("{path}.usages"), "at least one key usage"));
                    }
                    ExtPiece::Fixed(ext::key_usage(crit(critical, true), &bits))
                }
                ExtensionSpec::ExtendedKeyUsage { purposes, critical } => ExtPiece::Fixed(
                    ext::extended_key_usage(crit(critical, false), &purposes, "purposes")
                        .map_err(d)?,
                ),
                ExtensionSpec::BasicConstraints {
                    ca,
                    path_len,
                    critical,
                } => {
                    if path_len.is_some() && !ca {
                        // RFC 5280 §4.2.1.9: pathLenConstraint only when cA is TRUE.
                        return Err(spec_err(
                            format!("{path}.path_len"),
                            "path_len requires ca = true",
                        ));
                    }
                    ExtPiece::Fixed(ext::basic_constraints(crit(critical, true), ca, path_len))
                }
                ExtensionSpec::SubjectAltName { critical } => ExtPiece::San {
                    critical: crit(critical, false),
                },
                ExtensionSpec::CertificatePolicies { policies, critical } => {
                    let infos: Vec<ext::PolicyInfo> = policies
                        .into_iter()
                        .map(|p| ext::PolicyInfo {
                            oid: p.oid,
                            cps_uris: p.cps_uris,
                            user_notices: p.user_notices,
                        })
                        .collect();
                    ExtPiece::Fixed(
                        ext::certificate_policies(crit(critical, false), &infos, "policies")
                            .map_err(d)?,
                    )
                }
                ExtensionSpec::NameConstraints {
                    permitted,
                    excluded,
                    critical,
                } => ExtPiece::Fixed(
                    ext::name_constraints(crit(critical, true), &permitted, &excluded, "")
                        .map_err(d)?,
                ),
                ExtensionSpec::PolicyMappings { mappings, critical } => ExtPiece::Fixed(
                    ext::policy_mappings(crit(critical, true), &mappings, "mappings").map_err(d)?,
                ),
                ExtensionSpec::PolicyConstraints {
                    require_explicit_policy,
                    inhibit_policy_mapping,
                    critical,
                } => ExtPiece::Fixed(
                    ext::policy_constraints(
                        crit(critical, true),
                        require_explicit_policy,
                        inhibit_policy_mapping,
                        "",
                    )
                    .map_err(d)?,
                ),
                ExtensionSpec::InhibitAnyPolicy {
                    skip_certs,
                    critical,
                } => ExtPiece::Fixed(ext::inhibit_any_policy(crit(critical, true), skip_certs)),
                ExtensionSpec::SubjectInfoAccess {
                    critical,
                    ca_repository,
                    rpki_manifest,
                    rpki_notify,
                    signed_object,
                } => {
                    never_critical(critical, "subjectInfoAccess")?;
                    let mut entries: Vec<(AccessMethod, &str)> = Vec::new();
                    for (m, uris) in [
                        (AccessMethod::CaRepository, &ca_repository),
                        (AccessMethod::RpkiManifest, &rpki_manifest),
                        (AccessMethod::RpkiNotify, &rpki_notify),
                        (AccessMethod::SignedObject, &signed_object),
                    ] {
                        entries.extend(uris.iter().map(|u| (m, u.as_str())));
                    }
                    if entries.is_empty() {
                        ExtPiece::Blob {
                            hole: Hole::Sia,
                            oid: sia::ID_PE_SUBJECT_INFO_ACCESS,
                            critical: false,
                        }
                    } else {
                        ExtPiece::Fixed(sia::sia_extension(&entries).map_err(d)?)
                    }
                }
                ExtensionSpec::IpAddrBlocks { critical } => ExtPiece::Blob {
                    hole: Hole::IpAddrBlocks,
                    oid: rfc3779::ID_PE_IP_ADDR_BLOCKS,
                    critical: crit(critical, true),
                },
                ExtensionSpec::AsIdentifiers { critical } => ExtPiece::Blob {
                    hole: Hole::AsIdentifiers,
                    oid: rfc3779::ID_PE_AUTONOMOUS_SYS_IDS,
                    critical: crit(critical, true),
                },
                ExtensionSpec::Raw {
                    oid,
                    critical,
                    value_hex,
                } => {
                    let content =
                        encode_oid(&oid).map_err(|e| from_der(&format!("{path}.oid"), e))?;
                    if typed_oid(&content) {
                        return Err(spec_err(
                            format!("{path}.oid"),
                            format!("{oid} has a typed entry; use it"),
                        ));
                    }
                    if !seen_raw.insert(content) {
                        return Err(spec_err(
                            format!("{path}.oid"),
                            format!("duplicate extension {oid}"),
                        ));
                    }
                    let value = ext::hex_decode(&value_hex)
                        .ok_or_else(|| spec_err(format!("{path}.value_hex"), "not hex"))?;
                    ExtPiece::Fixed(ext::raw(&oid, crit(critical, false), &value, "").map_err(d)?)
                }
            };
            pieces.push(piece);
        }

        // Merge adjacent fixed runs so a fill copies as few runs as possible.
        let mut merged: Vec<ExtPiece> = Vec::new();
        for p in pieces {
            match (merged.last_mut(), p) {
                (Some(ExtPiece::Fixed(run)), ExtPiece::Fixed(more)) => run.extend(more),
                (_, p) => merged.push(p),
            }
        }
        let fixed_ext_len = merged
            .iter()
            .map(|p| {
                if let ExtPiece::Fixed(r) = p {
                    r.len()
                } else {
                    0
                }
            })
            .sum();
        let alg_id = alg.algorithm_identifier();
        let mut sig_and_issuer = alg_id.clone();
        sig_and_issuer.extend_from_slice(issuer_name_der);
        Ok(Template {
            alg,
            alg_id,
            sig_and_issuer,
            ext_pieces: merged,
            fixed_ext_len,
            name_strings,
        })
    }

    /// Compile against an issuer certificate: its subject becomes the issuer name and
    /// its SKI (or, without one, the method-1 key id of its key) the AKI.
    pub fn for_issuer(
        spec_json: &str,
        issuer_cert_der: &[u8],
        alg: SigAlg,
    ) -> Result<Template, SpecError> {
        let info = cert::parse_certificate(issuer_cert_der)
            .map_err(|e| from_der("issuer_certificate", e))?;
        let kid = match info.subject_key_id {
            Some(k) => k.to_vec(),
            None => sha1(info.spki.subject_public_key).to_vec(),
        };
        Self::compile(spec_json, info.subject_der, Some(&kid), alg)
    }

    pub fn algorithm(&self) -> SigAlg {
        self.alg
    }

    pub fn algorithm_identifier(&self) -> &[u8] {
        &self.alg_id
    }

    /// The string types subjects and directoryName SANs are encoded with.
    pub fn name_strings(&self) -> &NameStrings {
        &self.name_strings
    }

    /// Does the profile have this per-item extension hole?
    pub fn has_hole(&self, hole: Hole) -> bool {
        self.ext_pieces
            .iter()
            .any(|p| matches!(p, ExtPiece::Blob { hole: h, .. } if *h == hole))
    }

    pub fn has_san(&self) -> bool {
        self.ext_pieces
            .iter()
            .any(|p| matches!(p, ExtPiece::San { .. }))
    }
}

fn typed_oid(content: &[u8]) -> bool {
    [
        oids::AUTHORITY_KEY_IDENTIFIER,
        oids::SUBJECT_KEY_IDENTIFIER,
        oids::CRL_DISTRIBUTION_POINTS,
        oids::AUTHORITY_INFO_ACCESS,
        oids::KEY_USAGE,
        oids::EXT_KEY_USAGE,
        oids::BASIC_CONSTRAINTS,
        oids::SUBJECT_ALT_NAME,
        oids::CERTIFICATE_POLICIES,
        oids::NAME_CONSTRAINTS,
        oids::POLICY_MAPPINGS,
        oids::POLICY_CONSTRAINTS,
        oids::INHIBIT_ANY_POLICY,
        sia::ID_PE_SUBJECT_INFO_ACCESS,
        rfc3779::ID_PE_IP_ADDR_BLOCKS,
        rfc3779::ID_PE_AUTONOMOUS_SYS_IDS,
    ]
    .contains(&content)
}
