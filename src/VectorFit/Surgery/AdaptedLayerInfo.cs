namespace VectorFit;

/// <summary>One adapted layer as <see cref="ModelSurgery"/> left it: its name, role, shape and which vectors train.</summary>
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

    /// <summary>Whether σ trains.</summary>
    public required bool TrainSigma { get; init; }

    /// <summary>Whether the bias trains (<c>false</c> when there is none).</summary>
    public required bool TrainBias { get; init; }

    /// <summary>The length of σ (<see cref="Rank"/>).</summary>
    public long SigmaLength => Rank;

    /// <summary>The length of the bias (<see cref="OutFeatures"/>, or 0 without one).</summary>
    public long BiasLength => HasBias ? OutFeatures : 0;

    /// <summary>The trained values in this layer: <c>r</c> for σ plus <c>d_out</c> for the bias, as they train.</summary>
    public long TrainableParameters => (TrainSigma ? SigmaLength : 0) + (TrainBias ? BiasLength : 0);

    /// <summary>One line: <c>name (Role) in→out r=… trains σ[r] b[out]</c>.</summary>
    /// <returns>The description.</returns>
    public override string ToString()
    {
        var vectors = new List<string>();
        if (TrainSigma)
        {
            vectors.Add($"sigma[{SigmaLength}]");
        }

        if (TrainBias)
        {
            vectors.Add($"bias[{BiasLength}]");
        }

        return $"{Name} ({Role}) {InFeatures}->{OutFeatures} r={Rank} trains {string.Join(" ", vectors)}";
    }
}
