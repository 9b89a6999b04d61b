"""The privacy benchmark's Markdown report, made from its ``results.json`` document alone."""

from __future__ import annotations

from .robustness import VARIANTS

VARIANT_LABELS = {
    "uploaded": "as uploaded (JPEG q95 4:4:4) — headline",
    "jpeg75": "re-encoded JPEG q75",
    "resize1080": "shrunk to 1080 px (no-op on LFW's 250 px photos)",
    "resize1080+jpeg75": "shrunk to 1080 px + JPEG q75 (= JPEG q75 on LFW)",
    "phone-x5": "phone stand-in: enlarged x5 (1250 px), cloaked at that size, uploaded",
    "phone-x5-social": "phone stand-in, then shrunk to 1080 px + JPEG q75",
    "idealised": "IDEALISED: mask added to each model's aligned crop (no paste, no re-detection, no JPEG)",
}
ROLE_SHORT = {"black box": "BB", "surrogate": "sur", "other": "oth"}


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.0f}"


def _pair(entry: dict | None) -> str:
    return "—" if entry is None else f"{_pct(entry['psr1'])} / {_pct(entry['psr5'])}"


def _ci(entry: dict | None) -> str:
    if not entry or not entry.get("psr1_ci95"):
        return ""
    lo, hi = entry["psr1_ci95"]
    return f" [{100 * lo:.0f}–{100 * hi:.0f}]"


def _num(v: float | None, fmt: str = ".2f") -> str:
    return "—" if v is None else format(v, fmt)


def psr_table(doc: dict, variant: str) -> list[str]:
    models = list(doc["models"])
    head = ["method", "black-box mean (95% CI of PSR@1)", "surrogate mean"] + models + ["detector misses"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, res in doc["methods"].items():
        s = res["scores"].get(variant)
        if s is None:
            continue
        g = s["groups"]
        cells = [name, _pair(g["black box"]) + _ci(g["black box"]), _pair(g["surrogate"])]
        for m in models:
            r = s["per_model"][m]
            cells.append(f"{_pair(r)} ({ROLE_SHORT[r['role']]})")
        cells.append("—" if s["detector_misses"] is None else str(s["detector_misses"]))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def verification_table(doc: dict, variant: str = "uploaded") -> list[str]:
    models = list(doc["models"])
    head = ["method", "black-box mean", "surrogate mean"] + models
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, res in doc["methods"].items():
        s = res["scores"].get(variant)
        if s is None:
            continue
        g = s["groups"]
        cells = [name, _pct(g["black box"]["verification"]) if g["black box"] else "—",
                 _pct(g["surrogate"]["verification"]) if g["surrogate"] else "—"]
        cells += [_pct(s["per_model"][m]["verification"]) for m in models]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def robustness_table(doc: dict) -> list[str]:
    variants = [v for v in VARIANTS if any(v in r["scores"] for r in doc["methods"].values())]
    head = ["method"] + variants
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, res in doc["methods"].items():
        cells = [name]
        for v in variants:
            g = res["scores"].get(v, {}).get("groups", {}).get("black box")
            cells.append(_pair(g))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def quality_table(doc: dict) -> list[str]:
    lines = ["| method | face SSIM | face PSNR dB | photo SSIM | photo PSNR dB | uploaded face SSIM "
             "| uploaded photo PSNR dB | mask L_inf max (/255) |", "|---|---|---|---|---|---|---|---|"]
    for name, res in doc["methods"].items():
        q = res["quality"]
        lines.append(
            f"| {name} | {_num(q['cloak_face_ssim']['mean'], '.3f')} | {_num(q['cloak_face_psnr']['mean'], '.1f')} "
            f"| {_num(q['cloak_photo_ssim']['mean'], '.3f')} | {_num(q['cloak_photo_psnr']['mean'], '.1f')} "
            f"| {_num(q['uploaded_face_ssim']['mean'], '.3f')} | {_num(q['uploaded_photo_psnr']['mean'], '.1f')} "
            f"| {_num(res['mask_linf']['max'], '.1f')} |")
    return lines


def methods_table(doc: dict) -> list[str]:
    lines = ["| method | what | implementation | base eps (/255) | surrogates | enrol s (mean / median) "
             "| per-probe s (median) | no face (enrol / probes) | enrolment path |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, res in doc["methods"].items():
        sp = res["speed"]
        cfg = res.get("config") or {}
        extra = ""
        if cfg.get("stickers") or cfg.get("highpass"):
            extra = f"; stickers {cfg.get('sticker_eps') if cfg.get('stickers') else 'off'}, " \
                    f"high-pass {cfg.get('highpass_eps') if cfg.get('highpass') else 'off'}"
        lines.append(
            f"| {name} | {res['description']} | {res['implementation']} | {res['eps']:g}{extra} "
            f"| {', '.join(res['surrogates_used']) or '—'} "
            f"| {_num(sp['enrol_seconds']['mean'])} / {_num(sp['enrol_seconds']['median'])} "
            f"| {_num(sp['probe_seconds']['median'], '.3f')} | {res['enrol_no_face']} / {res['uncloaked_no_face']} "
            f"| {', '.join(f'{k}: {v}' for k, v in res.get('enrol_how', {}).items()) or '—'} |")
    return lines


def latency_table(lat: dict) -> list[str]:
    lines = [f"Photo `{lat['photo']}`, {lat['warmup']} warm-up + {lat['reps']} timed rounds per size, "
             f"alternating; {lat['implementation']}. Decode+encode two ways: plain (Pillow alone) and "
             "the engine's (through a numpy array and back); the ratios are the cloak's time to each.", "",
             "| size | pixels | faces cloaked | decode+encode ms, plain / engine (median) | cloak ms (median) "
             "| ratio to plain: median (p25–p75, min–max) | ratio to engine's: median (p25–p75) "
             "| of which detection ms (median) |",
             "|---|---|---|---|---|---|---|---|"]
    for s in lat["sizes"]:
        r, rp = s["ratio"], s.get("ratio_plain")
        detect = f"{s['detect_ms']['median']:.0f}" if "detect_ms" in s else "—"
        plain_ms = f"{s['plain_ms']['median']:.0f}" if "plain_ms" in s else "—"
        plain = "—" if rp is None else \
            f"{rp['median']:.2f} ({rp['p25']:.2f}–{rp['p75']:.2f}, {rp['min']:.2f}–{rp['max']:.2f})"
        lines.append(f"| {s['megapixels']:g} MP | {s['width']}x{s['height']} | {s['faces_cloaked']} "
                     f"| {plain_ms} / {s['baseline_ms']['median']:.0f} | {s['cloak_ms']['median']:.0f} | {plain} "
                     f"| {r['median']:.2f} ({r['p25']:.2f}–{r['p75']:.2f}) | {detect} |")
    return lines


def markdown(doc: dict) -> str:
    meta, proto = doc["meta"], doc["protocol"]
    out = [
        "# Privacy benchmark",
        "",
        f"Commit `{meta['commit']}`, {meta['platform']}, {meta['cpu_count']} CPUs, {meta['device']}, "
        f"started {meta['started']}; seed {meta['seed']}, strength `{meta['strength']}`"
        + (f", overrides `{meta['overrides']}`" if meta.get("overrides") else "") + ".",
        "",
        f"**Protocol** (DESIGN.md section 3): {proto['n_users']} LFW identities with >= 10 photos; "
        f"{proto['enrolment']}; {proto['n_probes']} probes ({proto['probes']}); gallery of "
        f"{proto['gallery_size']} clean photos = {proto['own_gallery_photos']} of the users ({proto['own_gallery']}) "
        f"+ {proto['distractors']} distractors (of {proto['distractor_pool']} photos of other identities). "
        f"Detector `{proto['detector']}` (the tool's: `{proto.get('tool_detector', proto['detector'])}`); "
        f"{proto['clean_detector_misses']} of {proto['clean_photos']} clean photos "
        "had no detected face and used the gallery's median landmarks.",
        "",
        "**Scoring.** Headline = *realistic*: the tool pastes the mask into the face nearest the photo centre, "
        "the photo is uploaded as JPEG q95 4:4:4, and each FR model re-detects (our dlib detector, face nearest "
        "the centre; dlib-resnet with its own 5-point alignment), aligns and embeds it. Where a model's detector "
        "finds no face in a probe, the gallery's median landmarks are used (a better detector would still find "
        "it): misses are counted, not credited. PSR@k = share of probes with no photo of their own identity "
        "among the k most similar gallery photos. Cells are PSR@1 / PSR@5 in %; role per method in brackets "
        "(BB = black box, sur = optimised against, oth = neither); the black-box mean never includes a model "
        "the method optimised against. The 95% interval resamples users (probes of one person are correlated).",
        "",
    ]
    if doc.get("skipped_methods"):
        out += ["**Not run** (engine parts missing):", ""]
        out += [f"- `{m}`: {why}" for m, why in doc["skipped_methods"].items()]
        out.append("")
    out += ["## Protection, realistic (headline)", ""] + psr_table(doc, "uploaded") + [""]
    for name, res in doc["methods"].items():
        if res.get("blackbox_refused"):
            out += [f"Note: `{name}` optimised against {', '.join(res['blackbox_refused'])}, registered as black "
                    "box(es): reported as its surrogate(s), left out of its black-box mean.", ""]
    if any("idealised" in r["scores"] for r in doc["methods"].values()):
        out += ["## Protection, IDEALISED (not the headline)", "",
                VARIANT_LABELS["idealised"] + ": the papers' way, shown only for comparison.", ""]
        out += psr_table(doc, "idealised") + [""]
    out += ["## Robustness: black-box mean PSR@1 / PSR@5 (%) per path to the search engine", ""]
    out += [f"- `{v}`: {VARIANT_LABELS[v]}" for v in proto["variants"]] + [""]
    out += robustness_table(doc) + [""]
    for v in proto["variants"]:
        if v != "uploaded":
            out += [f"<details><summary>per model: {v}</summary>", ""] + psr_table(doc, v) + ["", "</details>", ""]
    out += ["## Verification (uploaded)", "",
            "Share of probes (%) whose similarity to the person's clean enrolment photo is below the model's "
            "threshold at FAR = 1e-3.", ""] + verification_table(doc) + [""]
    out += ["| model | registry role | threshold | source |", "|---|---|---|---|"]
    out += [f"| {m} | {r['registry_role']} | {r['threshold_far_1e-3']:.3f} | {r['threshold_source']} |"
            for m, r in doc["models"].items()] + [""]
    out += ["## Image quality of the cloaked probes", "",
            "Means over probes. \"face\" = the 112 px aligned crop at the clean photo's landmarks; "
            "the first four columns compare the cloaked pixels before encoding with the clean photo (the cloak's "
            "own cost; `none` is identical: —), the two \"uploaded\" columns the decoded JPEG q95 upload (which "
            "includes the encoder's own loss). SSIM: Gaussian window sigma 1.5, K1 0.01, K2 0.03, per channel.",
            ""] + quality_table(doc) + [""]
    out += ["## Methods and speed", ""] + methods_table(doc) + [""]
    if doc.get("latency"):
        out += ["## Cloak latency", ""] + latency_table(doc["latency"]) + [""]
    if doc.get("plots"):
        out += ["## Plots", ""]
        out += [f"![{name}]({file})" for name, file in doc["plots"].items()] + [""]
    if doc.get("sweeps") and doc["sweeps"].get("skipped"):
        out += ["Sweeps not run: " + "; ".join(f"`{k}` ({v})" for k, v in doc["sweeps"]["skipped"].items()), ""]
    t = doc["timings"]
    out += ["## Timings (s)", ""]
    if meta.get("joined_parts"):
        out += [f"Joined from {len(meta['joined_parts'])} parts (`--part`): each `method_` row is the sum of the "
                "parts' seconds for that method; the other rows are the join's own.", ""]
    out += ["| stage | seconds |", "|---|---|"]
    out += [f"| {k} | {v} photos |" if k.endswith("_new_photos") else f"| {k} | {v:.1f} |"
            for k, v in t.items()] + [""]
    return "\n".join(out)
