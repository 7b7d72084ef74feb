"""Reading a small uploaded file (a people CSV, a certificate template or image) whole,
without ever holding more of it than the page accepts."""

from starlette.datastructures import UploadFile

_CHUNK_BYTES = 64 * 1024


def read_limited(file: UploadFile, limit: int) -> bytes | None:
    """The file's bytes, or None as soon as it proves longer than `limit`."""
    # A sync route (run in the thread pool, as the database calls need) reads the
    # spooled file directly; the body-size middleware has already bounded the request.
    chunks: list[bytes] = []
    size = 0
    while chunk := file.file.read(_CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
