def extract_cached(*a, **k): raise NotImplementedError
