// Intentionally empty: lets a header-only module still be a library target.
