//! DER (X.690) reading and writing, strict in both directions.

pub mod oid;
pub mod reader;
pub mod writer;

pub use reader::Reader;

/// Deepest nesting of constructed values the reader follows. X.509 needs about 10;
/// the bound stops stack exhaustion on hostile input.
pub const MAX_DEPTH: usize = 32;

pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const PRINTABLE_STRING: u8 = 0x13;
    pub const TELETEX_STRING: u8 = 0x14;
    pub const IA5_STRING: u8 = 0x16;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const UNIVERSAL_STRING: u8 = 0x1c;
    pub const BMP_STRING: u8 = 0x1e;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// Context-specific constructed [n].
    pub const fn context_constructed(n: u8) -> u8 {
        0xa0 | n
    }
    /// Context-specific primitive [n].
    pub const fn context_primitive(n: u8) -> u8 {
        0x80 | n
    }
}
