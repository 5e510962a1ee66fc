namespace VectorFit;

/// <summary>
/// The fine-tuning method <see cref="ModelSurgery"/> applies to the selected layers; recorded in the
/// report and in adapter files. (SVFT, on the same SVD machinery, is planned as a second method.)
/// </summary>
public enum AdaptationMethod
{
    /// <summary>VectorFit (arXiv 2503.19530): each layer becomes a <see cref="VectorFitLinear"/> training σ and b.</summary>
    VectorFit = 0,
}
