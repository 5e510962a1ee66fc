namespace VectorFit;

/// <summary>One adapted layer as <see cref="ModelSurgery"/> left it: its name, role, shape, method and which vectors train.</summary>
public sealed record AdaptedLayerInfo
{
    /// <summary>The layer's full module name, e.g. <c>encoder.layer.0.attention.self.query</c>.</summary>
    public required string Name { get; init; }

    /// <summary>Its role (q, k, v, o, f1, f2 or <see cref="LayerRole.Other"/>).</summary>
    public required LayerRole Role { get; init; }

    /// <summary><c>d_in</c>.</summary>
    public required long InFeatures { get; init; }

    /// <summary><c>d_out</c>.</summary>
    public required long OutFeatures { get; init; }

    /// <summary><c>r = min(d_in, d_out)</c>: the length of σ.</summary>
    public required long Rank { get; init; }

    /// <summary>Whether the adapted layer has a bias (the original's, or one created by <see cref="VectorFitConfig.AddBias"/>).</summary>
    public required bool HasBias { get; init; }

    /// <summary>Whether σ trains (VectorFit), or the entries of <c>M</c> (SVFT).</summary>
    public required bool TrainSigma { get; init; }

    /// <summary>Whether the bias trains (<c>false</c> when there is none).</summary>
    public required bool TrainBias { get; init; }

    /// <summary>The layer's method (default <see cref="AdaptationMethod.VectorFit"/>: files written before SVFT existed hold VectorFit layers).</summary>
    public AdaptationMethod Method { get; init; } = AdaptationMethod.VectorFit;

    /// <summary>The pattern of <c>M</c> for an SVFT layer; <c>null</c> for VectorFit.</summary>
    public SvftPattern? SvftPattern { get; init; }

    /// <summary>The length of σ (<see cref="Rank"/>).</summary>
    public long SigmaLength => Rank;

    /// <summary>The number of entries of <c>M</c> an SVFT layer trains, <c>r·(2d+1) − d·(d+1)</c> (method §5); 0 for VectorFit (or a pattern that does not fit the rank).</summary>
    public long SvftValueCount => SvftPattern is { } pattern && pattern.OffDiagonals < Rank ? pattern.EntryCount(Rank) : 0;

    /// <summary>The length of the bias (<see cref="OutFeatures"/>, or 0 without one).</summary>
    public long BiasLength => HasBias ? OutFeatures : 0;

    /// <summary>
    /// The trained values in this layer, as they train: <c>r</c> for σ (VectorFit) or <see cref="SvftValueCount"/> for <c>M</c>
    /// (SVFT), plus <c>d_out</c> for the bias.
    /// </summary>
    public long TrainableParameterCount => (TrainSigma ? MethodOf.TrainedLength(this) : 0) + (TrainBias ? BiasLength : 0);

    private AdapterMethod MethodOf => AdapterMethod.For(Method);

    /// <summary>One line: <c>name (Role) in→out r=… trains sigma[r] bias[out]</c>, or for SVFT <c>… r=… svft Banded(d=2) trains svft_values[nnz] bias[out]</c>.</summary>
    /// <returns>The description.</returns>
    public override string ToString()
    {
        var vectors = new List<string>();
        if (TrainSigma)
        {
            vectors.Add(MethodOf.TrainedText(this));
        }

        if (TrainBias)
        {
            vectors.Add($"bias[{BiasLength}]");
        }

        var method = MethodOf.LayerText(this);
        return $"{Name} ({Role}) {InFeatures}->{OutFeatures} r={Rank}{method} trains {string.Join(" ", vectors)}";
    }
}
