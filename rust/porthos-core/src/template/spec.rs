//! The template spec as plain parameter structs (rcgen style), read from the JSON
//! that the Python profile loader produces. Unknown fields are errors, so a typo in
//! a profile fails at load, never silently at issuance.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    pub extensions: Vec<serde_json::Value>,
    /// The string type per subject attribute (`{"CN": "printable", ...}`), for the
    /// subject and every directoryName SAN filled into this template; absent: the
    /// defaults of `x509::name_encode`.
    #[serde(default)]
    pub name_strings: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    pub oid: String,
    #[serde(default)]
    pub cps_uris: Vec<String>,
    #[serde(default)]
    pub user_notices: Vec<String>,
}

/// One entry of `extensions`, tagged by `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExtensionSpec {
    AuthorityKeyIdentifier {
        critical: Option<bool>,
    },
    SubjectKeyIdentifier {
        critical: Option<bool>,
        /// A fixed key id (hex) instead of the per-certificate hole: a CA certificate
        /// whose SKI must equal the one the subject CA asked for in its request.
        key_id_hex: Option<String>,
    },
    CrlDistributionPoints {
        uris: Vec<String>,
        critical: Option<bool>,
    },
    AuthorityInfoAccess {
        #[serde(default)]
        ca_issuers: Vec<String>,
        #[serde(default)]
        ocsp: Vec<String>,
        critical: Option<bool>,
    },
    KeyUsage {
        usages: Vec<String>,
        critical: Option<bool>,
    },
    ExtendedKeyUsage {
        purposes: Vec<String>,
        critical: Option<bool>,
    },
    BasicConstraints {
        ca: bool,
        path_len: Option<u32>,
        critical: Option<bool>,
    },
    SubjectAltName {
        critical: Option<bool>,
    },
    CertificatePolicies {
        policies: Vec<PolicySpec>,
        critical: Option<bool>,
    },
    NameConstraints {
        #[serde(default)]
        permitted: Vec<(String, String)>,
        #[serde(default)]
        excluded: Vec<(String, String)>,
        critical: Option<bool>,
    },
    PolicyMappings {
        mappings: Vec<(String, String)>,
        critical: Option<bool>,
    },
    PolicyConstraints {
        require_explicit_policy: Option<u32>,
        inhibit_policy_mapping: Option<u32>,
        critical: Option<bool>,
    },
    InhibitAnyPolicy {
        skip_certs: u32,
        critical: Option<bool>,
    },
    /// RPKI SIA (RFC 6487 §4.8.8): fixed when any URI is given, else a per-item
    /// hole (an EE certificate's signedObject, a child CA's repository).
    SubjectInfoAccess {
        critical: Option<bool>,
        #[serde(default)]
        ca_repository: Vec<String>,
        #[serde(default)]
        rpki_manifest: Vec<String>,
        #[serde(default)]
        rpki_notify: Vec<String>,
        #[serde(default)]
        signed_object: Vec<String>,
    },
    /// RFC 3779 IP resources: a per-item hole (critical by default, RFC 6487 §4.8.10).
    IpAddrBlocks {
        critical: Option<bool>,
    },
    /// RFC 3779 AS resources: a per-item hole (critical by default, RFC 6487 §4.8.11).
    AsIdentifiers {
        critical: Option<bool>,
    },
    Raw {
        oid: String,
        critical: Option<bool>,
        value_hex: String,
    },
}
