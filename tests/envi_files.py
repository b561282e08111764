"""ENVI files written by hand (a header and its binary data) for the loader tests."""


def write_envi_library(folder, spectra, names, wavelengths_um, *, dtype=">f4", byte_order=1, extra="", stem="lib"):
    hdr = (
        "ENVI\ndescription = {\n  a test library, with commas, {and braces]}\n"
        f"samples = {spectra.shape[1]}\nlines   = {spectra.shape[0]}\nbands   = 1\nheader offset = 0\n"
        "file type = ENVI Spectral Library\n"
        f"data type = {4 if dtype.endswith('f4') else 5}\ninterleave = bsq\nbyte order = {byte_order}\n"
        "wavelength units = Micrometers\n"
        "spectra names = {\n " + ",\n ".join(names) + "}\n"
        "wavelength = {\n " + ", ".join(f"{w:.6f}" for w in wavelengths_um) + "}\n" + extra
    )
    (folder / f"{stem}.hdr").write_text(hdr)
    spectra.astype(dtype).tofile(folder / f"{stem}.sli")
    return folder / f"{stem}.hdr"


def write_envi_image(folder, cube, interleave, extra=""):
    rows, cols, bands = cube.shape
    layout = {"bsq": (2, 0, 1), "bil": (0, 2, 1), "bip": (0, 1, 2)}[interleave]
    cube.transpose(layout).astype("<f4").tofile(folder / f"img_{interleave}.img")
    (folder / f"img_{interleave}.hdr").write_text(
        f"ENVI\nsamples = {cols}\nlines = {rows}\nbands = {bands}\nheader offset = 0\nfile type = ENVI Standard\n"
        f"data type = 4\ninterleave = {interleave}\nbyte order = 0\nwavelength units = Micrometers\n"
        "wavelength = {" + ", ".join(f"{0.4 + 0.1 * b:.2f}" for b in range(bands)) + "}\n" + extra
    )
    return folder / f"img_{interleave}.hdr"
