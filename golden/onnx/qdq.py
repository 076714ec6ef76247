"""placeholder"""
def import_qdq(*a, **k):
    raise NotImplementedError
