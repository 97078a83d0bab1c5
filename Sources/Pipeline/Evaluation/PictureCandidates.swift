// The images the report's picture can show, kept as the run produced them, so that writing the picture needs no
// second pass through the model (nine images are most of a minute on a Table 3 model on two cores): the running
// `worst` lowest and `best` highest PSNRs, in the order `EvalPicture.choose` sorts them, and the first distinct
// images of its seeded random draws (enough for `random` of them whatever worst and best turn out to be). At most
// worst + best + (worst + best + random) pairs are held, however many images the run has. A resumed run holds only
// what this process saw; the picture reconstructs whatever is missing.

import Imaging

public final class PictureCandidates {
    struct Held {
        let psnr: Double
        let original: RGBImage
        let reconstruction: RGBImage
    }

    private var held: [Int: Held] = [:]
    private let randomCandidates: Set<Int>

    /// `count`: the number of images the picture will choose from (the shard's).
    public init(count: Int) {
        var distinct: [Int] = []
        for pick in EvalPicture.randomPicks(count: count) where !distinct.contains(pick) {
            distinct.append(pick)
        }
        randomCandidates = Set(distinct.prefix(EvalPicture.worst + EvalPicture.best + EvalPicture.random))
    }

    func pair(_ index: Int) -> (original: RGBImage, reconstruction: RGBImage)? {
        held[index].map { ($0.original, $0.reconstruction) }
    }

    /// Offers image `index` (position in the shard) with its PSNR; keeps it only while it can still be chosen.
    func offer(index: Int, psnr: Double, original: RGBImage, reconstruction: RGBImage) {
        held[index] = Held(psnr: psnr, original: original, reconstruction: reconstruction)
        // Worst and best by (PSNR, index), as `choose` orders them; random candidates are always kept.
        let ranked = held.filter { !randomCandidates.contains($0.key) }
            .sorted { $0.value.psnr < $1.value.psnr || ($0.value.psnr == $1.value.psnr && $0.key < $1.key) }
        guard ranked.count > EvalPicture.worst + EvalPicture.best else { return }
        for (key, _) in ranked.dropFirst(EvalPicture.worst).dropLast(EvalPicture.best) { held[key] = nil }
    }
}
