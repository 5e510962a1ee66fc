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

    /// <summary>Checks the cross-field rules; throws <see cref="ArgumentException"/> naming the field and the fix.</summary>
    /// <exception cref="ArgumentException">
    /// <see cref="AddBias"/> is <c>true</c> while <see cref="TrainBias"/> is <c>false</c>: a new zero bias
    /// that is never trained only costs memory and compute.
    /// </exception>
    public void Validate()
    {
        if (AddBias && !TrainBias)
        {
            throw new ArgumentException(
                "AddBias is true but TrainBias is false: a zero bias that is never trained does nothing. " +
                "Set TrainBias = true to train the new bias, or AddBias = false.",
                nameof(AddBias));
        }
    }
}
