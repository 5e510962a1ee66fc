namespace VectorFit;

/// <summary>
/// What a <see cref="VectorFitLinear"/> whose σ does not train (AVF froze it, its options freeze it, or inference under
/// <c>no_grad</c>) keeps between calls: the trade between memory and speed of unmerged layers.
/// </summary>
/// <remarks>
/// <para>
/// A VectorFit layer holds U <c>(d_out, r)</c> and V <c>(d_in, r)</c> instead of the weight: for a square layer twice
/// the weight's values, for 768 ↔ 3072 1.25 times. <see cref="Speed"/> adds, per layer whose σ does not train, one
/// composed weight <c>(d_out, d_in)</c> (and a copy of σ): such a layer then costs what a frozen <c>Linear</c> costs.
/// <see cref="Memory"/> keeps nothing: such a layer evaluates factored, <c>((x·V) ⊙ σ)·Uᵀ + b</c>, which costs
/// <c>N·r·(d_in + d_out)</c> multiply-adds against the composed weight's <c>N·d_in·d_out</c> (2 × for a square layer,
/// 1.25 × for 768 ↔ 3072).
/// </para>
/// <para>
/// Either way the output is exact: the composed weight is reused only while σ, U and V provably did not change
/// (<see cref="VectorFitLinear"/>'s remarks list what is seen). For inference with neither the factors' nor the
/// composed weight's memory, merge (<see cref="ModelSurgery.MergeAndUnload"/>): the merged model is the base model's size.
/// </para>
/// </remarks>
public enum ComposedWeightMode
{
    /// <summary>Keep the composed weight of each layer whose σ does not train (the default): frozen-Linear speed, one weight more per such layer.</summary>
    Speed = 0,

    /// <summary>Keep no composed weight: a layer whose σ does not train evaluates factored, and holds only U, V, σ and the bias.</summary>
    Memory = 1,
}
