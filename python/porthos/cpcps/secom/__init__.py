"""The SECOM Security Communication RootCA PKI (CPS v5.12, seeds/002) as data."""
