"""A lean FITS reader and writer for JWST products.

JWST products are a handful of 2-D/3-D big-endian image extensions plus one
binary table holding ASDF. astropy's general machinery costs several times the
bytes for such files (scaled-integer handling, lazy section objects, copies
to native byte order). This module reads each image straight into a native
array (optionally one provided by the caller, e.g. page-locked memory for a
GPU upload) and swaps bytes in place, and writes by swapping bounded chunks.
Headers are parsed and formatted by astropy, so card syntax is astropy's.

Only what JWST products use is handled here (BITPIX 8/16/32/64/-32/-64,
unsigned integers through BZERO, binary tables kept as raw bytes). Anything
else (compressed or scaled data) is read by astropy and reported as such.
"""

import dataclasses
import gzip
import hashlib
import io
import mmap
import os

import numpy as np
from astropy.io import fits

from gpucal.errors import InputFileError, OutputError
from gpucal.io.atomic import atomic_path

__all__ = ["Hdu", "fits_hash", "image_header", "read_hdus", "write_hdus"]

BLOCK = 2880
_CARD = 80
_END = b"END" + b" " * 77
_BITPIX = {8: "u1", 16: "i2", 32: "i4", 64: "i8", -32: "f4", -64: "f8"}
_UNSIGNED = {16: (np.uint16, 1 << 15), 32: (np.uint32, 1 << 31), 64: (np.uint64, 1 << 63)}
_CHUNK = 1 << 23  # bytes per byte-swapped chunk on write


@dataclasses.dataclass
class Hdu:
    """One HDU: its astropy header, and data as a native array (images) or raw bytes (tables).

    Attributes
    ----------
    header : astropy.io.fits.Header
    data : numpy.ndarray or bytes or None
    raw_header : bytes
        The header blocks exactly as read (used for jwst's FITS hash).
    """

    header: fits.Header
    data: object = None
    raw_header: bytes = b""

    @property
    def name(self):
        return str(self.header.get("EXTNAME", "PRIMARY" if "SIMPLE" in self.header else "")).strip().upper()

    @property
    def is_table(self):
        return self.header.get("XTENSION", "").strip() == "BINTABLE"


def _read_header(fh, path, offset):
    chunks = []
    while True:
        block = fh.read(BLOCK)
        if not block:
            if chunks:
                raise InputFileError(f"{path}: truncated FITS header at byte {offset}")
            return None
        if len(block) < BLOCK:
            raise InputFileError(
                f"{path}: truncated FITS file (header block at byte {offset + BLOCK * len(chunks)} is incomplete)"
            )
        chunks.append(block)
        for i in range(0, BLOCK, _CARD):
            if block[i : i + _CARD] == _END:
                raw = b"".join(chunks)
                try:
                    text = raw.decode("ascii")
                except UnicodeDecodeError:
                    raise InputFileError(
                        f"{path}: not a FITS file (non-ASCII bytes in a header at byte {offset})"
                    ) from None
                if offset == 0 and not text.startswith("SIMPLE  ="):
                    raise InputFileError(f"{path}: not a FITS file (no SIMPLE card)")
                return raw
        if offset == 0 and len(chunks) == 1 and not block.startswith(b"SIMPLE  ="):
            raise InputFileError(f"{path}: not a FITS file (no SIMPLE card)")
        if len(chunks) > 4096:
            raise InputFileError(f"{path}: FITS header without END card")


def _data_size(header):
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0, ()
    shape = tuple(int(header[f"NAXIS{k}"]) for k in range(naxis, 0, -1))
    count = int(header.get("GCOUNT", 1)) * (int(header.get("PCOUNT", 0)) + int(np.prod(shape)))
    return abs(int(header["BITPIX"])) // 8 * count, shape


def _image_dtype(header):
    """(native dtype, top-bit flip for unsigned via BZERO) of an image HDU, or None for scaled data."""
    bitpix = int(header["BITPIX"])
    bscale, bzero = header.get("BSCALE", 1), header.get("BZERO", 0)
    unsigned = _UNSIGNED.get(bitpix)
    if bscale == 1 and bzero == 0:
        return np.dtype(_BITPIX[bitpix]), 0
    if unsigned is not None and bscale == 1 and bzero == unsigned[1]:
        return np.dtype(unsigned[0]), unsigned[1]
    return None


def _convert(source, out, flip):
    """Big-endian file bytes -> native array in one pass (byte swap, and the unsigned flip)."""
    if flip:
        np.bitwise_xor(source.view(source.dtype.newbyteorder(">").str.replace("i", "u")), out.dtype.type(flip), out=out)
    else:
        np.copyto(out, source)


def _read_image(fh, path, header, nbytes, shape, allocator, mapped=None, offset=0):
    """Read one image: from a memory map in a single byte-swapping pass, or (gzip) by readinto."""
    kind = _image_dtype(header)
    if kind is None:
        return None  # scaled data: let astropy handle it
    dtype, flip = kind
    out = allocator(shape, dtype)
    big = (
        np.dtype(_BITPIX[int(header["BITPIX"])]).newbyteorder(">")
        if dtype.itemsize > 1
        else np.dtype(_BITPIX[int(header["BITPIX"])])
    )
    if mapped is not None:
        if offset + nbytes > len(mapped):
            raise InputFileError(
                f"{path}: truncated FITS file (extension {header.get('EXTNAME', '?')!s} is incomplete)"
            )
        source = np.ndarray(shape, dtype=big, buffer=mapped, offset=offset)
        _convert(source, out, flip)
        return out
    view = memoryview(out.reshape(-1).view(np.uint8))
    got = 0
    while got < nbytes:
        n = fh.readinto(view[got:])
        if not n:
            break
        got += n
    if got != nbytes:
        raise InputFileError(
            f"{path}: truncated FITS file (extension {header.get('EXTNAME', '?')!s} has {got} of {nbytes} data bytes)"
        )
    if dtype.itemsize > 1 and dtype.byteorder in ("=", "<") and np.little_endian:
        out.byteswap(inplace=True)
    if flip:
        out ^= dtype.type(flip)
    return out


def _open(path):
    try:
        fh = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputFileError(f"{path}: is a directory, not a FITS file") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    if fh.read(2) == b"\x1f\x8b":  # gzip-compressed, as products often arrive from MAST
        fh.seek(0)
        return gzip.GzipFile(fileobj=fh, mode="rb"), True
    fh.seek(0)
    return fh, False


def _skip(fh, nbytes, path, what):
    while nbytes:
        chunk = fh.read(min(nbytes, 1 << 24))
        if not chunk:
            raise InputFileError(f"{path}: truncated FITS file ({what} is incomplete)")
        nbytes -= len(chunk)


def read_hdus(path, *, allocator=np.empty, names=None, skip_tables=False):
    """Read every HDU of a FITS file (plain or gzip-compressed).

    Parameters
    ----------
    path : str or os.PathLike
    allocator : callable, optional
        ``allocator(shape, dtype)`` returns the array an image is read into
        (e.g. pinned host memory for a later GPU upload).
    names : set of str, optional
        Read the image data only of these extensions (headers of all are read). Tables (the ASDF
        extension, INT_TIMES ...) are metadata: they are read unless ``skip_tables``.
    skip_tables : bool, optional
        Do not read table data (the ASDF extension included).

    Returns
    -------
    list of Hdu

    Raises
    ------
    InputFileError
        For a missing, truncated or non-FITS file.
    """
    path = os.fspath(path)
    fh, compressed = _open(path)
    hdus = []
    fallback = False
    mapped = None
    if not compressed:
        try:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError):  # empty file, or a file that cannot be mapped
            mapped = None
    try:
        offset = 0
        while True:
            try:
                raw = _read_header(fh, path, offset)
            except InputFileError:  # already names the file (InputFileError is an OSError)
                raise
            except (OSError, EOFError) as exc:  # a corrupt gzip stream
                raise InputFileError(f"{path}: unreadable ({exc})") from exc
            if raw is None:
                break
            try:
                header = fits.Header.fromstring(raw.decode("ascii"))
            except Exception as exc:
                raise InputFileError(f"{path}: unreadable FITS header at byte {offset} ({exc})") from exc
            nbytes, shape = _data_size(header)
            padded = nbytes + (-nbytes) % BLOCK
            hdu = Hdu(header, None, raw)
            label = f"data of extension {hdu.name or len(hdus)}"
            consumed = 0
            if nbytes:
                # Tables (ASDF, INT_TIMES, ...) are metadata: read unless skipped, whatever ``names`` says.
                wanted = (not skip_tables) if hdu.is_table else (names is None or hdu.name in names)
                is_image = "XTENSION" not in header or header["XTENSION"].strip() == "IMAGE"
                if hdu.is_table and wanted:
                    hdu.data = fh.read(nbytes)
                    consumed = len(hdu.data)
                    if consumed != nbytes:
                        raise InputFileError(f"{path}: truncated FITS file ({label} is incomplete)")
                elif wanted and is_image:
                    try:
                        hdu.data = _read_image(fh, path, header, nbytes, shape, allocator, mapped, fh.tell())
                    except InputFileError:
                        raise
                    except (OSError, EOFError) as exc:  # a gzip stream cut inside the data
                        raise InputFileError(f"{path}: unreadable ({exc})") from exc
                    if hdu.data is None:
                        fallback = True
                    elif mapped is None:
                        consumed = nbytes  # read from the stream; a memory map leaves the position alone
                elif wanted:
                    fallback = True
            remaining = padded - consumed
            if not compressed:
                here = fh.tell()
                if os.fstat(fh.fileno()).st_size < here + (nbytes - consumed):
                    raise InputFileError(f"{path}: truncated FITS file ({label} is incomplete)")
                fh.seek(here + remaining)
            else:
                try:
                    _skip(fh, nbytes - consumed, path, label)
                    fh.read(padded - nbytes)
                except InputFileError:
                    raise
                except (OSError, EOFError) as exc:
                    raise InputFileError(f"{path}: unreadable ({exc})") from exc
            hdus.append(hdu)
            offset += len(raw) + padded
    finally:
        if mapped is not None:
            mapped.close()
        fh.close()
    if not hdus:
        raise InputFileError(f"{path}: empty file, not a FITS file")
    if fallback:
        _fill_with_astropy(path, hdus)
    return hdus


def _fill_with_astropy(path, hdus):
    with fits.open(path, memmap=False) as hdul:
        for hdu, ahdu in zip(hdus, hdul, strict=False):
            if hdu.data is None and ahdu.data is not None and not hdu.is_table:
                hdu.data = np.asarray(ahdu.data)


def fits_hash(hdus):
    """jwst's ``_fits_hash``: SHA-256 of the header blocks of all non-ASDF HDUs.

    Parameters
    ----------
    hdus : list of Hdu or list of bytes
        HDUs as read, or the header blocks as written (ASDF excluded by the caller).
    """
    digest = hashlib.sha256()
    for hdu in hdus:
        if isinstance(hdu, bytes):
            digest.update(hdu)
        elif hdu.name != "ASDF":
            digest.update(hdu.raw_header)
    return digest.hexdigest()


def image_header(data, extname=None, *, primary=False, extver=1):
    """The mandatory cards of an image HDU, in astropy's order and with its comments."""
    header = fits.Header()
    if primary:
        header.append(("SIMPLE", True, "conforms to FITS standard"))
    else:
        header.append(("XTENSION", "IMAGE", "Image extension"))
    dtype = None if data is None else np.dtype(data.dtype)
    if dtype is None:
        bitpix, shape = 8, ()
    else:
        kind = dtype.kind + str(dtype.itemsize)
        bitpix = {"u1": 8, "i2": 16, "u2": 16, "i4": 32, "u4": 32, "i8": 64, "u8": 64, "f4": -32, "f8": -64}[kind]
        shape = data.shape
    header.append(("BITPIX", bitpix, "array data type"))
    header.append(("NAXIS", len(shape), "number of array dimensions"))
    for k, n in enumerate(reversed(shape), start=1):
        header.append((f"NAXIS{k}", n))
    if primary:
        header.append(("EXTEND", True))
    else:
        header.append(("PCOUNT", 0, "number of parameters"))
        header.append(("GCOUNT", 1, "number of groups"))
    if dtype is not None and dtype.kind == "u" and dtype.itemsize > 1:
        header.append(("BSCALE", 1))
        header.append(("BZERO", 1 << (8 * dtype.itemsize - 1)))
    if extname is not None:
        header.append(("EXTNAME", extname, "extension name"))
        if extver is not None:
            header.append(("EXTVER", extver, "extension value"))
    return header


def table_hdu_bytes(hdu):
    """Header and data bytes of an astropy table HDU, as astropy writes them."""
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    return buf.getvalue()[BLOCK:]


def _write_array(fh, array, scratch):
    """Write an array big-endian, swapping bounded chunks through one reusable buffer."""
    dtype = array.dtype
    flat = np.ascontiguousarray(array).reshape(-1)
    unsigned = dtype.kind == "u" and dtype.itemsize > 1
    if unsigned:
        # FITS stores unsigned integers as signed with BZERO = 2**(bits-1): flip the top bit.
        flat = (flat ^ dtype.type(1 << (8 * dtype.itemsize - 1))).view(f"i{dtype.itemsize}")
    target = flat.dtype.newbyteorder(">") if flat.dtype.itemsize > 1 else flat.dtype
    if flat.dtype.byteorder == ">" or flat.dtype.itemsize == 1:
        fh.write(memoryview(flat).cast("B"))
    else:
        step = max(1, _CHUNK // flat.dtype.itemsize)
        buf = scratch.get(target)
        if buf is None or buf.size < min(step, flat.size):
            buf = scratch[target] = np.empty(min(step, flat.size), dtype=target)
        for start in range(0, flat.size, step):
            part = flat[start : start + step]
            out = buf[: part.size]
            np.copyto(out, part)
            fh.write(memoryview(out).cast("B"))
    nbytes = flat.size * flat.dtype.itemsize
    fh.write(b"\0" * ((-nbytes) % BLOCK))


def header_bytes(header):
    """Header blocks exactly as written (``END`` included, padded to 2880)."""
    text = header.tostring(sep="", endcard=True, padding=True)
    return text.encode("ascii")


def write_hdus(path, hdus):
    """Write HDUs atomically (temporary file, then rename).

    Parameters
    ----------
    path : str or os.PathLike
    hdus : list of (bytes, object)
        Each entry is the header blocks (see :func:`header_bytes`) and the
        data: a numpy array (written big-endian), raw bytes, or ``None``.

    Raises
    ------
    OutputError
        If the file cannot be written; nothing is left under ``path``.
    """
    with atomic_path(path) as tmp:
        try:
            scratch = {}
            with open(tmp, "wb") as fh:
                for head, data in hdus:
                    fh.write(head)
                    if data is None:
                        continue
                    if isinstance(data, (bytes, bytearray, memoryview)):
                        fh.write(data)
                        fh.write(b"\0" * ((-len(data)) % BLOCK))
                    else:
                        _write_array(fh, data, scratch)
        except OSError as exc:
            raise OutputError(f"{path}: write failed ({exc.strerror or exc})") from exc
