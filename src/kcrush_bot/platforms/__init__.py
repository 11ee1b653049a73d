"""Platform adapters: translate neutral replies to platform calls and platform updates to commands."""
