"""``napari-sparsedecon presets`` and ``run --preset NAME`` (every method: the PSF; the
paper pipeline: its parameters too)."""

from __future__ import annotations


def _preset_base(args):
    """The paper pipeline's parameters (validated dict) from --preset, or None."""
    if not getattr(args, "preset", None):
        return None
    from ..core.params import validate_params
    from ..presets import get_preset

    return validate_params(get_preset(args.preset).params)


def _preset_psf(args, params=None):
    """The preset's PSF recipe (for batch) when it makes the PSF: a preset is given and no
    --psf / --psf-fwhm-px / --psf-fwhm-nm (nor a psf_fwhm_px from --params)."""
    if not getattr(args, "preset", None) or args.psf or args.psf_fwhm_nm is not None \
            or getattr(args, "psf_fwhm_px", None):
        return None
    if params is not None and params.get("psf_fwhm_px") is not None:
        return None
    from ..presets import get_preset

    pr = get_preset(args.preset)
    recipe = {**pr.psf_recipe, "preset": pr.name}
    wl = getattr(args, "wavelength_nm", None)
    if wl:  # one wavelength for all channels, or one per channel
        recipe["wavelength_nm"] = wl[0] if len(wl) == 1 else list(wl)
    return recipe


def _presets(args) -> int:
    from ..presets import get_preset, list_presets

    if args.name:
        p = get_preset(args.name)
        print(f"{p.name}: {p.microscope}{' ' + p.camera if p.camera else ''}, {p.sample}")
        print(f"  source: {p.source}; {p.reference}")
        print(f"  PSF: Airy, effective NA {p.effective_na:g}, emission {p.wavelength_nm:g} nm, "
              f"at the image's pixel size"
              + (f" (published data: {p.pixel_nm:g} nm)" if p.pixel_nm else ""))
        print("  parameters (this project's convention): "
              + ", ".join(f"{k}={v}" for k, v in p.params.items()))
        if p.published:
            print("  as published: " + ", ".join(f"{k}={v}" for k, v in p.published.items()))
        for n in p.notes:
            print(f"  note: {n}")
        return 0
    head = (f"{'name':<18} {'microscope':<10} {'camera':<6} {'sample':<11} {'NA':>4} "
            f"{'em nm':>5} {'fidelity':>8} {'sparsity':>8} {'cont':>4} {'iter':>4} "
            f"{'background':<10} {'deconv':<9} {'x2':<8} source")
    print(head)
    for p in list_presets():
        q = p.params
        up = q["upsample_method"] if q["upsample"] == 2 else "-"
        print(f"{p.name:<18} {p.microscope:<10} {p.camera or '-':<6} {p.sample:<11} "
              f"{p.effective_na:>4g} {p.wavelength_nm:>5g} {q['fidelity']:>8g} "
              f"{q['sparsity']:>8g} {q['continuity']:>4g} {q['iterations']:>4} "
              f"{q['background']:<10} {q['deconv_method'] + ' ' + str(q['deconv_iterations']):<9} "
              f"{up:<8} {'published' if p.source == 'published' else 'project (not published)'}")
    print("\nNA: effective NA; values in this project's convention (the published sparsity "
          "carries over unchanged, docs/presets.md). 'napari-sparsedecon presets NAME' shows "
          "one in full; 'run --preset NAME' uses it.")
    return 0
