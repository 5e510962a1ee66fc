namespace VectorFit;

/// <summary>
/// The paper's ablation variants (method §2, paper §6.3): which layers are adapted and which of their
/// vectors train. Attention layers are q, k, v, o; the others are f1, f2 and <see cref="LayerRole.Other"/>.
/// </summary>
/// <remarks>
/// A layer in which a variant trains nothing is not adapted (it stays a frozen <c>Linear</c>). Only
/// <see cref="VectorFit"/> uses Adaptive Vector Freezing (<see cref="VectorFitVariantExtensions.UsesAvf"/>); build an
/// <see cref="AvfScheduler"/> for it, and train the other variants without one.
/// </remarks>
public enum VectorFitVariant
{
    /// <summary>VectorFit (the default): σ and b of q, k, v, o, f1, f2, with AVF.</summary>
    VectorFit = 0,

    /// <summary>VectorFit (no AVF): σ and b of q, k, v, o, f1, f2, no freezing.</summary>
    NoAvf,

    /// <summary>Σa + b: σ of q, k, v, o and the biases of all adapted layers (f1 and f2 train their bias only).</summary>
    SigmaAttentionAndBias,

    /// <summary>Σ: σ of q, k, v, o, f1, f2; no bias trains.</summary>
    Sigma,

    /// <summary>Σa: σ of q, k, v, o only; f1 and f2 are not adapted.</summary>
    SigmaAttention,
}

/// <summary>Helpers on <see cref="VectorFitVariant"/>.</summary>
public static class VectorFitVariantExtensions
{
    /// <summary>Whether the variant trains with Adaptive Vector Freezing (only <see cref="VectorFitVariant.VectorFit"/>).</summary>
    /// <param name="variant">A variant.</param>
    /// <returns><c>true</c> when an <see cref="AvfScheduler"/> should drive training.</returns>
    public static bool UsesAvf(this VectorFitVariant variant) => variant == VectorFitVariant.VectorFit;

    /// <summary>
    /// The per-layer options a variant gives a layer of <paramref name="role"/>, or <c>null</c> when the variant
    /// trains nothing in it (so it is not adapted).
    /// </summary>
    /// <param name="variant">The ablation variant.</param>
    /// <param name="role">The layer's role.</param>
    /// <param name="hasBias">Whether the layer has a bias.</param>
    /// <param name="addBias">Whether to create a zero bias where the layer has none (only where the variant trains biases).</param>
    /// <returns>The options for <see cref="VectorFitLinear"/>, or <c>null</c>.</returns>
    public static VectorFitLinearOptions? LayerOptions(this VectorFitVariant variant, LayerRole role, bool hasBias, bool addBias)
    {
        var attention = role.IsAttention();
        var (trainSigma, trainBias) = variant switch
        {
            VectorFitVariant.VectorFit or VectorFitVariant.NoAvf => (true, true),
            VectorFitVariant.SigmaAttentionAndBias => (attention, true),
            VectorFitVariant.Sigma => (true, false),
            VectorFitVariant.SigmaAttention => (attention, false),
            _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, $"Unknown VectorFitVariant {variant}; use one of {string.Join(", ", Enum.GetNames<VectorFitVariant>())}."),
        };

        var createBias = addBias && trainBias && !hasBias;
        var biasTrains = trainBias && (hasBias || createBias);
        if (!trainSigma && !biasTrains)
        {
            return null;
        }

        return new VectorFitLinearOptions { TrainSigma = trainSigma, TrainBias = trainBias, AddBias = createBias };
    }
}
