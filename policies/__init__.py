"""rft-env's CrossGuard policy pack: the rules live in `policies.rules`, `__main__` serves them."""
