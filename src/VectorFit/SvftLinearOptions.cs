namespace VectorFit;

/// <summary>
/// How an <see cref="SvftLinear"/> is built: the pattern of trainable entries of <c>M</c> and which of
/// <c>M</c> and the bias train.
/// </summary>
/// <remarks>
/// Defaults give SVFT's plain variant with the existing bias trained, like <see cref="VectorFitLinearOptions"/>:
/// no bias is created where the original layer had none (method §1, <b>Decided</b>).
/// </remarks>
public sealed record SvftLinearOptions
{
    /// <summary>Which entries of <c>M</c> train (default <see cref="SvftPattern.Plain"/>, the diagonal).</summary>
    public SvftPattern Pattern { get; init; } = SvftPattern.Plain;

    /// <summary>Train the entries of <c>M</c> (default <c>true</c>). When <c>false</c>, <c>M</c> stays zero unless loaded.</summary>
    public bool TrainValues { get; init; } = true;

    /// <summary>Train the bias when the layer has one (default <c>true</c>). When <c>false</c>, it is kept as a frozen parameter.</summary>
    public bool TrainBias { get; init; } = true;

    /// <summary>Create a zero-initialised bias when the original <c>Linear</c> had none (default <c>false</c>).</summary>
    public bool AddBias { get; init; }

    /// <summary>Checks each field and the cross-field rules; throws <see cref="ArgumentException"/> naming the field and the fix.</summary>
    /// <exception cref="ArgumentException"><see cref="Pattern"/> is null, or <see cref="AddBias"/> is set while <see cref="TrainBias"/> is not.</exception>
    /// <remarks>The pattern's fit to a layer (<c>d &lt; r</c>, Top-k on square layers) is checked by the layer, which knows its shape.</remarks>
    public void Validate()
    {
        if (Pattern is null)
        {
            throw new ArgumentException("Pattern is null; use SvftPattern.Plain, SvftPattern.Banded(d), SvftPattern.Random(d, seed) or SvftPattern.TopK(d).", nameof(Pattern));
        }

        if (AddBias && !TrainBias)
        {
            throw new ArgumentException(
                "AddBias is true but TrainBias is false: a zero bias that is never trained does nothing. Set TrainBias = true to train the new bias, or AddBias = false.",
                nameof(AddBias));
        }
    }
}
