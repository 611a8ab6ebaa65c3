from billing.testing import fake_stripe

__all__ = ["fake_stripe"]
