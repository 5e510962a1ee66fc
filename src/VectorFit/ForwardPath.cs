namespace VectorFit;

/// <summary>
/// How <see cref="SvdAdaptedLinear.forward"/> evaluates <c>U·diag(σ)·Vᵀ·x + b</c>; both paths give the
/// same result up to round-off (method §1, cost note).
/// </summary>
internal enum ForwardPath
{
    /// <summary>Pick the cheaper path from the number of tokens (the default).</summary>
    Auto = 0,

    /// <summary><c>W = (U ⊙ σ)·Vᵀ</c>, then one ordinary linear: <c>d_out·d_in·r + N·d_in·d_out</c> multiply-adds.</summary>
    Materialized,

    /// <summary><c>((x·V) ⊙ σ)·Uᵀ + b</c>: <c>N·r·(d_in + d_out)</c> multiply-adds.</summary>
    Factored,

    /// <summary>
    /// VectorFitLinear with σ not training: <c>W</c> composed once and reused while σ, U, V are unchanged
    /// (<see cref="ComposedWeightCache"/>), <c>N·d_in·d_out</c> per call like a frozen Linear.
    /// </summary>
    Cached,
}
