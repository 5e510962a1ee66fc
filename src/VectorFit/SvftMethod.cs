using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// SVFT (arXiv 2405.19597, method §5): each selected layer becomes an <see cref="SvftLinear"/> that trains the entries of a sparse
/// <c>M</c> on <see cref="Pattern"/> (and its bias); σ stays frozen and Adaptive Vector Freezing does not apply. The variant's
/// "train σ" switch reads as "train <c>M</c>".
/// </summary>
/// <example><c>new VectorFitConfig { Method = new SvftMethod { Pattern = SvftPattern.Banded(2) }, Preset = TargetPreset.Bert }</c></example>
public sealed record SvftMethod : AdapterMethod
{
    // Static, so that record equality compares options only.
    private static readonly string[] Keys = [SvftLinear.ValuesKey, SvftLinear.RowsKey, SvftLinear.ColsKey];

    /// <summary>
    /// Which entries of <c>M</c> train (default <see cref="SvftPattern.Plain"/>, the diagonal); <c>d</c> must be below the rank of
    /// every adapted layer, and Top-k needs square layers.
    /// </summary>
    public SvftPattern Pattern { get; init; } = SvftPattern.Plain;

    /// <inheritdoc />
    public override AdaptationMethod Kind => AdaptationMethod.Svft;

    /// <inheritdoc />
    public override Type LayerType => typeof(SvftLinear);

    /// <inheritdoc />
    internal override IReadOnlyList<string> TrainedKeys => Keys;

    /// <inheritdoc />
    internal override string LayerWithArticle => "an SvftLinear";

    /// <inheritdoc />
    internal override SvftPattern? RecordedSvftPattern => Pattern;

    /// <summary>The method and its pattern, e.g. <c>Svft (Banded(2))</c>.</summary>
    /// <returns>The description used in reports.</returns>
    public override string ToString() => $"Svft ({Pattern})";

    /// <inheritdoc />
    internal override SvdAdaptedLinear CreateLayer(Linear linear, VectorFitLinearOptions training, Func<Tensor, string, ScalarType?, ThinSvd>? svdSource)
        => new SvftLinear(linear, new SvftLinearOptions
        {
            Pattern = Pattern,
            TrainValues = training.TrainSigma,
            TrainBias = training.TrainBias,
            AddBias = training.AddBias,
        }, svdSource);

    /// <inheritdoc />
    internal override void Validate()
    {
        if (Pattern is null)
        {
            throw new ArgumentException(
                "SvftMethod.Pattern is null; use SvftPattern.Plain (the default), SvftPattern.Banded(d), SvftPattern.Random(d, seed) or SvftPattern.TopK(d).",
                nameof(Pattern));
        }
    }

    /// <inheritdoc />
    internal override string? ProblemFor(long inFeatures, long outFeatures) => Pattern.ProblemFor(inFeatures, outFeatures);

    /// <inheritdoc />
    internal override long TrainedLength(AdaptedLayerInfo layer)
        => layer.SvftPattern is { } pattern && pattern.OffDiagonals < layer.Rank ? pattern.EntryCount(layer.Rank) : 0;

    /// <inheritdoc />
    internal override string LayerText(AdaptedLayerInfo layer) => $" svft {layer.SvftPattern}";

    /// <inheritdoc />
    internal override bool RecordIsConsistent(AdaptedLayerInfo layer) => layer.SvftPattern is not null;

    /// <inheritdoc />
    private protected override AdapterMethod WithRecordedOptions(SvftPattern? svftPattern) => this with { Pattern = svftPattern ?? SvftPattern.Plain };
}
