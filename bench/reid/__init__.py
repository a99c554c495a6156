"""PoNA Table VI: generated images as person re-identification training data.

Li et al. (PoNA, IEEE TIP 2021), Section IV-D: keep a random portion p of the
Market-1501 training images, re-generate the removed ones from kept images of the
same identity in the removed images' poses, train the re-ID baseline of Zheng et
al. (Person_reID_baseline_pytorch: ResNet-50 + a 512-d bottleneck, identity
classification) on the reduced set ("None") and on reduced + generated, and score
it with the Market query/gallery protocol.

Modules: ``market`` (file names, camera ids, folders), ``split`` (the seeded
reduced split and its manifest), ``generate`` (the missing images by any
registered generator), ``model`` (the ResNet-50 classifier), ``train``,
``evaluate`` (CMC and mAP of the official Market evaluation), ``table``
(Table VI, measured beside published).
"""
