"""The reliable copy (« copie fiable », décret 2016-1673): journal chain, timestamps, checks, proofs,
archival transfer, retention and the description of the process."""
