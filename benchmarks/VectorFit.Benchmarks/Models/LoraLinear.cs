using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit.Benchmarks.Models;

/// <summary>
/// The LoRA reference the benchmarks compare against (plain, like loralib):
/// <c>y = x·Wᵀ + b + (x·Aᵀ)·Bᵀ·(α/r)</c> with <c>W</c> and <c>b</c> frozen, <c>A</c> <c>(r, in)</c> random and
/// <c>B</c> <c>(out, r)</c> zero, so the layer starts equal to the base layer.
/// </summary>
/// <remarks>
/// The scale α/r is applied to the r-wide product <c>x·Aᵀ</c> (N·r values) instead of the out-wide one: the same
/// result for less work. <c>benchmarks/pytorch/step.py</c> does the same.
/// </remarks>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
    private readonly Linear base_layer;
    private readonly Parameter lora_A;
    private readonly Parameter lora_B;
    private readonly double _scaling;

    /// <summary>Wraps <paramref name="baseLayer"/> (and freezes its weight and bias) with a rank-<paramref name="rank"/> update.</summary>
    public LoraLinear(Linear baseLayer, int rank = 1, double alpha = 1.0)
        : base(nameof(LoraLinear))
    {
        ArgumentNullException.ThrowIfNull(baseLayer);
        ArgumentOutOfRangeException.ThrowIfLessThan(rank, 1);
        base_layer = baseLayer;
        base_layer.weight!.requires_grad = false;
        if (base_layer.bias is { } bias)
        {
            bias.requires_grad = false;
        }

        var inFeatures = baseLayer.weight!.shape[1];
        var outFeatures = baseLayer.weight.shape[0];
        // A ~ U(-1/√in, 1/√in) (what kaiming_uniform_(a = √5) gives); B = 0.
        var bound = 1.0 / Math.Sqrt(inFeatures);
        using (torch.no_grad())
        {
            lora_A = new Parameter(torch.rand(rank, inFeatures).mul_(2 * bound).sub_(bound));
            lora_B = new Parameter(torch.zeros(outFeatures, rank));
        }

        _scaling = alpha / rank;
        RegisterComponents();
    }

    /// <summary>The trainable down-projection A, <c>(r, in)</c>.</summary>
    public Parameter A => lora_A;

    /// <summary>The trainable up-projection B, <c>(out, r)</c>.</summary>
    public Parameter B => lora_B;

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var down = nn.functional.linear(input, lora_A);
        using var scaled = down * _scaling;
        using var update = nn.functional.linear(scaled, lora_B);
        using var frozen = base_layer.forward(input);
        return frozen + update;
    }
}
