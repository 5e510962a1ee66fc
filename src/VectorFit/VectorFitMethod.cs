using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// VectorFit (arXiv 2503.19530, method §1): each selected layer becomes a <see cref="VectorFitLinear"/> that trains its singular
/// values σ and its bias; the default <see cref="VectorFitConfig.Method"/>. It has no options of its own (the variant chooses
/// which vectors train); train it with an <see cref="AvfScheduler"/> for Adaptive Vector Freezing.
/// </summary>
public sealed record VectorFitMethod : AdapterMethod
{
    // Static, so that record equality compares options only.
    private static readonly string[] Keys = [VectorFitLinear.SigmaKey];

    /// <inheritdoc />
    public override AdaptationMethod Kind => AdaptationMethod.VectorFit;

    /// <inheritdoc />
    public override Type LayerType => typeof(VectorFitLinear);

    /// <inheritdoc />
    internal override bool SupportsAvf => true;

    /// <inheritdoc />
    internal override IReadOnlyList<string> TrainedKeys => Keys;

    /// <inheritdoc />
    internal override string LayerWithArticle => "a VectorFitLinear";

    /// <summary>The method's name, <c>VectorFit</c>.</summary>
    /// <returns><c>VectorFit</c>.</returns>
    public override string ToString() => "VectorFit";

    /// <inheritdoc />
    internal override SvdAdaptedLinear CreateLayer(Linear linear, VectorFitLinearOptions training, Func<Tensor, string, ScalarType?, ThinSvd>? svdSource)
        => new VectorFitLinear(linear, training, svdSource);

    /// <inheritdoc />
    internal override long TrainedLength(AdaptedLayerInfo layer) => layer.Rank;
}
