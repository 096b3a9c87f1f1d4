"""moto server whose ranged GETs read only their range.

moto answers `GET` with `Range: bytes=a-b` by reading the whole object out of its buffer and then
slicing it (`FakeKey.value`, then `_handle_range_header`). A processor reads its partition as a
range, so every partition of a 200 MB upload made moto copy 200 MB under one GIL: in a local
end-to-end run of the benchmark's 217 MB file, 25 partition reads cost 311 s summed, against 25 s
of parsing, and the local stack measured moto rather than the pipeline. S3 itself serves a range at
the cost of the range.

This launcher runs moto's own server with one change: during a GET whose Range header is a single
`bytes=<first>-[<last>]` range, the object's bytes are a view whose slices read just that slice
from the key's buffer, under the key's lock. Everything else -- the headers, conditional requests,
checksums, the 206 and 416 answers -- is still moto's code, which slices the view as it sliced the
bytes. test/integration/localstack/services/motoServer.test.ts compares the answers with plain
moto's for the same requests.

If a moto release renames what this wraps, the launcher says so on stderr and serves plain moto.
"""

import re
import sys

from moto.server import main

SINGLE_RANGE = re.compile(r"^\s*bytes=\d+-\d*\s*$")


class RangeView:
    """A key's bytes as _handle_range_header uses them: a length, and slices read on demand."""

    def __init__(self, key):
        self._key = key

    def __len__(self):
        return self._key.size

    def __bool__(self):
        return self._key.size > 0

    def __getitem__(self, index):
        if not isinstance(index, slice) or index.step not in (None, 1):
            return self._key.value[index]
        start, stop, _ = index.indices(self._key.size)
        with self._key.lock:
            buffer = self._key._value_buffer
            buffer.seek(start)
            return buffer.read(max(0, stop - start))

    def __bytes__(self):
        return self._key.value


class KeyWithRangeView:
    """The FakeKey itself for get_object, except that its value is a RangeView."""

    def __init__(self, key):
        self._key = key

    @property
    def value(self):
        return RangeView(self._key)

    def __getattr__(self, name):
        return getattr(self._key, name)


def patch_ranged_get():
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    needed = [
        (S3Response, "get_object"),
        (S3Response, "key_response"),
        (S3Response, "_get_key"),
        (S3Response, "_handle_range_header"),
        (FakeKey, "size"),
        (FakeKey, "value"),
    ]
    missing = [f"{cls.__name__}.{name}" for cls, name in needed if not hasattr(cls, name)]
    if missing:
        sys.stderr.write(f"moto_server.py: {', '.join(missing)} not in this moto; serving ranged GETs unchanged\n")
        return

    get_object = S3Response.get_object
    key_response = S3Response.key_response

    def ranged_get_object(self):
        if not SINGLE_RANGE.match(self.headers.get("range") or ""):
            return get_object(self)
        get_key = self._get_key

        def key_with_range_view(*args, **kwargs):
            key, not_modified = get_key(*args, **kwargs)
            # The buffer and lock are what the view reads; a key without them is read as moto does.
            if not (hasattr(key, "_value_buffer") and hasattr(key, "lock")):
                return key, not_modified
            return KeyWithRangeView(key), not_modified

        self._get_key = key_with_range_view
        try:
            return get_object(self)
        finally:
            del self._get_key

    def key_response_with_bytes(self, *args, **kwargs):
        response = key_response(self, *args, **kwargs)
        # Where moto answers a ranged GET with the whole object (a range it ignores), the view
        # becomes the whole object's bytes, as moto would have sent.
        if isinstance(response, tuple) and len(response) == 3 and isinstance(response[2], RangeView):
            status, headers, body = response
            return status, headers, bytes(body)
        return response

    S3Response.get_object = ranged_get_object
    S3Response.key_response = key_response_with_bytes
    sys.stderr.write("moto_server.py: ranged GETs read only their range\n")


if __name__ == "__main__":
    patch_ranged_get()
    main(sys.argv[1:])
