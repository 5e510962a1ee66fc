namespace VectorFit;

/// <summary>
/// The fine-tuning method <see cref="ModelSurgery"/> applies to the selected layers; recorded in the
/// report and in adapter files. Both work on the frozen thin SVD of each layer's weight.
/// </summary>
public enum AdaptationMethod
{
    /// <summary>VectorFit (arXiv 2503.19530): each layer becomes a <see cref="VectorFitLinear"/> training σ and b.</summary>
    VectorFit = 0,

    /// <summary>
    /// SVFT (arXiv 2405.19597, method §5): each layer becomes an <see cref="SvftLinear"/> training the entries of <c>M</c>
    /// on <see cref="SvftMethod.Pattern"/> (and b); σ stays frozen and AVF does not apply.
    /// </summary>
    Svft = 1,
}
