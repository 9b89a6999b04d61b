"""The cloaking subcommands: enrol, cloak, preview, profiles.

`register(sub)` adds them to the ``facecloak`` parser (see `cli.build_parser`).
Every command raises `FaceCloakError` for what the user can fix; `cli.main`
prints it as ``facecloak: error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import paths
from .cli_options import add_detector_option, add_device_option
from .errors import FaceCloakError

#: File name endings a folder is searched for (case-insensitive).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp")
CLOAKED_TAG = "_cloaked"
_FORMAT_SUFFIXES = {"JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"), "PNG": (".png",), "WEBP": (".webp",)}


# --- enrol -------------------------------------------------------------------

def profile_store():
    """The user's encrypted profiles (keys in the OS keyring).

    A keyring that keeps keys in a plain file is refused unless the user opted
    in: FACECLOAK_ALLOW_PLAINTEXT_KEYRING=1, or `facecloak serve
    --allow-plaintext-keyring` once (remembered in the daemon's settings).
    """
    from .cloak.secure_profiles import SecureProfileStore
    from .server.settings import plaintext_keyring_allowed

    return SecureProfileStore(paths.data_home() / "profiles", allow_plaintext_keyring=plaintext_keyring_allowed())


def cmd_enrol(args) -> int:
    """Fit a cloak to one photo of you and store it as a named profile."""
    from .cloak.config import CloakConfig
    from .cloak.enrol import enrol
    from .cloak.profiles import ProfileError

    store = profile_store()
    path = store.path(args.profile)  # checks the name before the slow part
    if path.exists() and not args.replace:
        raise ProfileError(f"a profile named {args.profile!r} already exists; "
                           "pass --replace to overwrite it, or choose another name")
    photo = Path(args.photo)
    if not photo.is_file():
        raise FaceCloakError(f"no such photo: {photo}")
    overrides = {name: getattr(args, name) for name in ("k", "steps") if getattr(args, name) is not None}
    config = CloakConfig.for_strength(args.strength, device=args.device, **overrides)
    with tqdm(total=100, desc="starting", file=sys.stderr,
              bar_format="enrolling {percentage:3.0f}%|{bar}| {elapsed}<{remaining}  {desc}") as bar:
        def progress(fraction: float, message: str = "") -> None:
            bar.n = min(100.0, max(0.0, 100.0 * float(fraction)))
            bar.set_description_str(message, refresh=False)
            bar.refresh()

        enrolment = enrol(photo, config, progress=progress)
    store.save(args.profile, enrolment, overwrite=args.replace)
    print(f"profile {args.profile!r} saved to {path}")
    print(f"enrolment took {enrolment.seconds:.1f} s (variations: {enrolment.backend})")
    return 0


# --- cloak -------------------------------------------------------------------

@dataclass
class Summary:
    photos: int = 0
    faces_found: int = 0
    faces_cloaked: int = 0
    no_face: int = 0
    none_matched: int = 0
    failures: list[tuple[Path, str]] = field(default_factory=list)

    @staticmethod
    def _copied(keep_gps: bool) -> str:
        return " (copied as they were)" if keep_gps else " (copied as they were, less any GPS)"

    def lines(self, seconds: float, only_me: bool, keep_gps: bool) -> list[str]:
        out = [f"photos:              {self.photos}",
               f"faces found:         {self.faces_found}",
               f"faces cloaked:       {self.faces_cloaked}",
               f"photos with no face: {self.no_face}" + (self._copied(keep_gps) if self.no_face else "")]
        if only_me:
            out.append(f"photos not of you:   {self.none_matched}"
                       + (self._copied(keep_gps) if self.none_matched else ""))
        out.append(f"failed:              {len(self.failures)}")
        out += [f"  {path}: {reason}" for path, reason in self.failures]
        out.append(f"total time:          {seconds:.1f} s")
        return out


def find_images(paths: list[str]) -> list[tuple[Path, Path | None]]:
    """(photo, folder it was found under or None) for each argument.

    A folder is searched recursively for JPEG, PNG and WebP files, skipping
    hidden entries and earlier outputs (``*_cloaked.*``); a file is taken as
    given, whatever its name.
    """
    found: list[tuple[Path, Path | None]] = []
    for arg in paths:
        path = Path(arg)
        if path.is_dir():
            for sub in sorted(path.rglob("*")):
                rel = sub.relative_to(path)
                if any(part.startswith(".") for part in rel.parts) or not sub.is_file():
                    continue
                if sub.suffix.lower() in IMAGE_SUFFIXES and not sub.stem.endswith(CLOAKED_TAG):
                    found.append((sub, path))
        elif path.is_file():
            found.append((path, None))
        else:
            raise FaceCloakError(f"no such file or folder: {arg}")
    return found


def output_path(photo: Path, base: Path | None, out_dir: Path | None, fmt: str) -> Path:
    """Where the cloaked copy of `photo` goes: ``<stem>_cloaked<ext>``.

    Beside the photo, or under `out_dir` (keeping the photo's sub-folder
    below the folder argument it was found in). The extension is the
    photo's own unless it contradicts the output format.
    """
    from .cloak.encode import EXTENSIONS

    suffix = photo.suffix if photo.suffix.lower() in _FORMAT_SUFFIXES.get(fmt, ()) else EXTENSIONS[fmt]
    name = f"{photo.stem}{CLOAKED_TAG}{suffix}"
    if out_dir is None:
        return photo.with_name(name)
    rel = photo.parent.relative_to(base) if base is not None else Path()
    return out_dir / rel / name


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _user_embedding(profile, only_me: bool) -> tuple[str | None, np.ndarray | None]:
    """(match model, the user's embedding by it) for --only-me; (None, None) without it."""
    from .cloak.apply import MATCH_THRESHOLDS, match_model_for

    if not only_me:
        return None, None
    model = match_model_for(profile.embeddings)
    if model is None:
        raise FaceCloakError(f"profile {profile.name!r} holds no embedding of a match model "
                             f"({', '.join(MATCH_THRESHOLDS)}), which --only-me needs to recognise you; enrol again")
    return model, profile.embeddings[model]


def cmd_cloak(args) -> int:
    """Cloak photos (files or whole folders) with a profile's mask."""
    from .cloak.apply import DEFAULT_MATCH_MODEL, cloak_bytes
    from .faces import get_detector

    profile = profile_store().load(args.profile)
    model, user = _user_embedding(profile, args.only_me)
    photos = find_images(args.paths)
    if not photos:
        raise FaceCloakError("no JPEG, PNG or WebP photos found in " + ", ".join(args.paths))
    out_dir = Path(args.out) if args.out else None
    detector = get_detector(args.detector, args.device)
    summary = Summary(photos=len(photos))
    start = time.perf_counter()
    for photo, base in tqdm(photos, desc="cloaking", unit="photo", file=sys.stderr):
        try:
            result = cloak_bytes(photo.read_bytes(), profile.mask, detector=detector, only_user=user,
                                 match_model=model or DEFAULT_MATCH_MODEL, match_threshold=args.match_threshold,
                                 strip_gps=not args.keep_gps, device=args.device)
            write_atomic(output_path(photo, base, out_dir, result.format), result.data)
        except (FaceCloakError, OSError) as exc:
            summary.failures.append((photo, getattr(exc, "strerror", None) or str(exc)))
            continue
        summary.faces_found += result.faces_found
        summary.faces_cloaked += result.faces_cloaked
        summary.no_face += result.faces_found == 0
        summary.none_matched += result.faces_found > 0 and result.faces_cloaked == 0
    print("\n".join(summary.lines(time.perf_counter() - start, args.only_me, args.keep_gps)))
    where = f"under {out_dir}" if out_dir is not None else "beside each photo"
    print(f"outputs:             <name>{CLOAKED_TAG}.<ext> {where}")
    return 1 if summary.failures else 0


# --- preview -----------------------------------------------------------------

def cmd_preview(args) -> int:
    """Write a before/after picture: original | cloaked | difference x10."""
    from PIL import Image

    from .cloak.apply import aligned_from_landmarks, cloak_array, match_user
    from .cloak.preview import before_after
    from .faces import crop_footprint, get_detector, load_image

    profile = profile_store().load(args.profile)
    model, user = _user_embedding(profile, args.only_me)
    rgb = load_image(args.photo)
    faces = get_detector(args.detector).detect(rgb)
    if not faces:
        raise FaceCloakError(f"no face found in {args.photo}: nothing to preview")
    select = match_user(rgb, faces, user, model)[0] if user is not None else [True] * len(faces)
    if not any(select):
        raise FaceCloakError(f"none of the {len(faces)} face(s) in {args.photo} is you: nothing to preview")
    cloaked, _ = cloak_array(rgb, profile.mask, faces, select)
    if not args.whole:  # the faces at full resolution, not a shrunk photo
        boxes = np.array([crop_footprint(rgb.shape, aligned_from_landmarks(f.landmarks), 112)
                          for f, s in zip(faces, select) if s])
        x0, y0 = boxes[:, :2].min(axis=0)
        x1, y1 = boxes[:, 2:].max(axis=0)
        rgb, cloaked = rgb[y0:y1, x0:x1], cloaked[y0:y1, x0:x1]
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(before_after(rgb, cloaked)).save(out, "PNG")
    print(f"wrote {out} ({sum(select)} face(s) cloaked)")
    return 0


# --- profiles ----------------------------------------------------------------

def cmd_profiles_list(args) -> int:

    store = profile_store()
    infos = store.list()
    if not infos:
        print(f"no profiles yet in {store.root}; create one with `facecloak enrol PHOTO --profile NAME`")
        return 0
    print(f"{'name':20} {'created (UTC)':17} {'strength':8} {'method':12} {'backend':10} models")
    for info in infos:
        if info.problem:
            print(f"{info.name:20} unreadable: {info.problem}")
            continue
        mm = info.mask_meta
        print(f"{info.name:20} {info.created.strftime('%Y-%m-%d %H:%M'):17} "
              f"{str(mm.get('strength', '-')):8} {str(mm.get('method', '-')):12} "
              f"{str(info.meta.get('backend', mm.get('backend', '-'))):10} {', '.join(info.models) or '-'}")
    print(f"({store.root})")
    return 0


def cmd_profiles_delete(args) -> int:

    profile_store().delete(args.name)
    print(f"deleted profile {args.name!r}")
    return 0


# --- parser --------------------------------------------------------------------

def register(sub: argparse._SubParsersAction) -> None:
    """Add enrol, cloak, preview and profiles to the ``facecloak`` subparsers."""
    p = sub.add_parser(
        "enrol", help="fit a cloak to one photo of you and save it as a profile",
        description=cmd_enrol.__doc__ + " The photo must show exactly one face.")
    p.add_argument("photo", metavar="PHOTO", help="a clear photo of your face (JPEG, PNG or WebP)")
    p.add_argument("--profile", required=True, metavar="NAME",
                   help="profile name: letters, digits, '-' and '_'")
    p.add_argument("--strength", choices=("low", "mid", "high"), default="mid",
                   help="protection strength: higher protects more but is more visible (default mid; "
                        "low is nearly invisible and protects little)")
    p.add_argument("--k", type=int, metavar="N",
                   help="number of varied images of you to fit the cloak to (default 8)")
    p.add_argument("--steps", type=int, metavar="N",
                   help="optimisation steps (default 24; fewer is faster and protects less)")
    p.add_argument("--replace", action="store_true", help="overwrite an existing profile of that name")
    add_device_option(p, "detection and the optimisation")
    p.set_defaults(func=cmd_enrol)

    p = sub.add_parser(
        "cloak", help="cloak photos, or every photo in folders, with a profile",
        description=cmd_cloak.__doc__ + " Each output is written as <name>_cloaked.<ext> beside its "
        "photo (or under --out), in the photo's format, at full size. Folders are searched "
        "recursively for JPEG, PNG and WebP files. Photos with no face are written unchanged, "
        "apart from GPS removal.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="photos and/or folders of photos")
    p.add_argument("--profile", required=True, metavar="NAME", help="profile made by `facecloak enrol`")
    p.add_argument("--out", metavar="DIR", help="write outputs under DIR instead of beside the photos")
    p.add_argument("--only-me", action="store_true",
                   help="cloak only faces recognised as yours; leave other people's faces untouched")
    p.add_argument("--match-threshold", type=float, metavar="T",
                   help="with --only-me: cosine similarity at which a face counts as yours "
                        "(default: the match model's own, 0.41 for mobilefacenet; lower cloaks more faces)")
    p.add_argument("--keep-gps", action="store_true",
                   help="keep GPS location in the photos' metadata (removed by default)")
    add_detector_option(p)
    add_device_option(p, "detection and --only-me's face matching")
    p.set_defaults(func=cmd_cloak)

    p = sub.add_parser("preview", help="write a before/after picture of a cloaked photo",
                       description=cmd_preview.__doc__ + " By default the picture is cut to the "
                       "cloaked faces, at full resolution.")
    p.add_argument("photo", metavar="PHOTO", help="a photo with your face")
    p.add_argument("--profile", required=True, metavar="NAME", help="profile made by `facecloak enrol`")
    p.add_argument("-o", "--output", default="before_after.png", metavar="FILE",
                   help="PNG to write (default before_after.png)")
    p.add_argument("--whole", action="store_true", help="show the whole photo, not just the faces")
    p.add_argument("--only-me", action="store_true", help="cloak only faces recognised as yours")
    add_detector_option(p)
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("profiles", help="list or delete your profiles")
    psub = p.add_subparsers(dest="profiles_command", required=True, metavar="ACTION")
    q = psub.add_parser("list", help="every profile, with when and how it was made")
    q.set_defaults(func=cmd_profiles_list)
    q = psub.add_parser("delete", help="delete a profile (its mask and embeddings)")
    q.add_argument("name", metavar="NAME")
    q.set_defaults(func=cmd_profiles_delete)
