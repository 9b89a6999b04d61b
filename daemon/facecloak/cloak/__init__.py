"""The cloak engine: one universal mask per person, from one photo.

Contract between the modules (each in its own file):

    config.py     CloakConfig (frozen): strength presets low/mid/high and every switch
    variations.py Variant(image, landmarks, source); get_backend("auto"|"augment"|"arc2face")
                  .generate(rgb, landmarks, k, seed) -> list[Variant]; made_by(variants)
    arc2face.py   the Arc2Face generator (diffusers): identity prompt, sampling, ArcFace ID
    arc2face_weights.py  where its weights are (local folder, Hugging Face / insightface caches)
    budget.py     per-pixel budget map in aligned space: base eps, larger on
                  Region-Stickers (eyes/nose/mouth) and on high-pass pixels
    transforms.py differentiable robustness transforms (JPEG, resize, shift)
    methods/      one base class (PerturbationMethod) for every method:
                  FaceCloak, UniformNoise, OPOM (centre / affine / convex hull),
                  PerImagePGD; each turns aligned faces into a CloakMask
    enrol.py      enrol(photo, config, progress, should_stop) -> Enrolment
    mask.py       CloakMask (112x112x3 pixel-unit delta + metadata), one small file
    apply.py      cloak a photo: warp the mask into each selected face, encode
    profiles.py   named profiles on disk

Space and units: masks live in the ArcFace 112x112 aligned frame; deltas are
in pixel units (8.0 == 8/255 of the range); torch tensors are (N, 3, H, W)
RGB in [0, 1].
"""
