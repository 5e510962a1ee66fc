using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// Which vectors of a <see cref="VectorFitLinear"/> are trained: the switches behind the paper's
/// ablation variants (method §2).
/// </summary>
/// <remarks>
/// Defaults give the VectorFit layer of the paper (§3.1): σ and the existing bias are trained, no bias
/// is created where the original layer had none (method §1, <b>Decided</b>).
/// </remarks>
public sealed record VectorFitLinearOptions
{
    /// <summary>Train the singular values σ (default <c>true</c>). When <c>false</c>, σ stays at σ₀.</summary>
    public bool TrainSigma { get; init; } = true;

    /// <summary>
    /// Train the bias when the layer has one (default <c>true</c>). When <c>false</c>, the bias is kept
    /// as a frozen parameter.
    /// </summary>
    public bool TrainBias { get; init; } = true;

    /// <summary>
    /// Create a zero-initialised bias when the original <c>Linear</c> had none (default <c>false</c>),
    /// so such layers (e.g. LLaMA-style projections) can train a bias too.
    /// </summary>
    public bool AddBias { get; init; }

    /// <summary>
    /// The dtype in which the frozen U and V are stored (default <c>null</c>: the weight's own dtype, and they follow
    /// <c>Module.to(dtype)</c> like every other tensor of the layer). <c>ScalarType.BFloat16</c> or <c>ScalarType.Float16</c>
    /// on a float32 layer halves the memory U and V take; σ, σ₀, the bias, the input, the output and all arithmetic stay in the
    /// weight's dtype (the compute dtype), U and V being converted to it for each product.
    /// </summary>
    /// <remarks>
    /// Must be a floating dtype no wider than the weight's: the weight's own dtype, or a narrower one (Float16 and BFloat16 on a
    /// float32 or float64 layer, Float32 on a float64 one). U and V are rounded once from the float64 SVD. When set, U and V keep
    /// this dtype through <c>Module.to(dtype)</c> (device moves still move them); σ, σ₀ and the bias take the new dtype. See
    /// docs/benchmarks.md §5 for what it does to <c>W₀</c>, <c>ΔW</c> and a task's accuracy.
    /// </remarks>
    public ScalarType? FactorDType { get; init; }

    /// <summary>Checks each field and the cross-field rules; throws <see cref="ArgumentException"/> naming the field and the fix.</summary>
    /// <exception cref="ArgumentException">
    /// <see cref="AddBias"/> is <c>true</c> while <see cref="TrainBias"/> is <c>false</c>: a new zero bias
    /// that is never trained only costs memory and compute; or <see cref="FactorDType"/> is not a floating dtype.
    /// </exception>
    public void Validate()
    {
        CheckFactorDType(FactorDType, nameof(FactorDType));

        if (AddBias && !TrainBias)
        {
            throw new ArgumentException(
                "AddBias is true but TrainBias is false: a zero bias that is never trained does nothing. " +
                "Set TrainBias = true to train the new bias, or AddBias = false.",
                nameof(AddBias));
        }
    }

    /// <summary>Throws when <paramref name="factorDType"/> is set but is not a real floating dtype.</summary>
    internal static void CheckFactorDType(ScalarType? factorDType, string paramName)
    {
        if (factorDType is { } factors && !IsRealFloating(factors))
        {
            throw new ArgumentException(
                $"FactorDType must be a floating dtype no wider than the weights' (BFloat16 or Float16 to halve U and V of a float32 model), got {factors}. " +
                "Use ScalarType.BFloat16 or ScalarType.Float16, or null for the weight's own dtype.",
                paramName);
        }
    }

    /// <summary>
    /// Why <paramref name="factorDType"/> cannot hold the factors of a <paramref name="weightDType"/> weight (it is wider, or as wide
    /// but a different dtype, so it saves nothing), or <c>null</c> when it can.
    /// </summary>
    internal static string? FactorDTypeProblem(ScalarType factorDType, ScalarType weightDType)
    {
        if (factorDType == weightDType || ElementSize(factorDType) < ElementSize(weightDType))
        {
            return null;
        }

        return $"FactorDType {factorDType} is not narrower than the weight's dtype {weightDType}" +
               (ElementSize(factorDType) > ElementSize(weightDType) ? " (it is wider, so U and V would hold digits the weight does not have)" : " (same size, so it saves nothing and only rounds)") +
               $"; use a narrower floating dtype (BFloat16 or Float16 for a Float32 weight), {weightDType} itself, or null";
    }

    private static bool IsRealFloating(ScalarType type) => type is ScalarType.Float64 or ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16;

    private static int ElementSize(ScalarType type) => type switch
    {
        ScalarType.Float64 => 8,
        ScalarType.Float32 => 4,
        _ => 2,
    };
}
