"""The LEGIC Porthos PKI CP/CPS v1.1 (seeds/000): its data and named rules."""
