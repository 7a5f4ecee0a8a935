"""The alptk model zoo: model packages, their archives, and fetching and caching them (``store``)."""
