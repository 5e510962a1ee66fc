using System.Reflection;
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
    // Held Scalars (the library's HeldScalars rule): an operator's on-the-fly Scalar can be finalized mid-call.
    private static readonly Scalar One = 1.ToScalar();
    private readonly Scalar _scaling;

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

        _scaling = (alpha / rank).ToScalar();
        RegisterComponents();
    }

    /// <summary>
    /// Puts a <see cref="LoraLinear"/> in place of every <c>Linear</c> of <paramref name="model"/> that
    /// <paramref name="preset"/> targets (name equal to a suffix or ending with <c>"." + suffix</c>), in
    /// <c>named_modules</c> order; returns the replaced names.
    /// </summary>
    /// <remarks>
    /// TorchSharp has no <c>set_submodule</c> and <c>forward</c> reads the parent's field, so each replacement sets the
    /// parent's field of the child's name (VectorFit.Transformers names its fields as it registers them) and
    /// re-registers the name. VectorFit's own surgery does the same internally.
    /// </remarks>
    /// <exception cref="InvalidOperationException">A target's parent has no field of that name able to hold a
    /// <see cref="LoraLinear"/>, or nothing matched.</exception>
    public static IReadOnlyList<string> Inject(nn.Module model, TargetPreset preset, int rank = 1, double alpha = 1.0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(preset);
        var modules = new Dictionary<string, nn.Module>(StringComparer.Ordinal) { [string.Empty] = model };
        var targets = new List<(string Name, Linear Linear)>();
        foreach (var (name, module) in model.named_modules())
        {
            modules[name] = module;
            if (module is Linear linear && preset.Targets.Any(t => name == t.Suffix || name.EndsWith("." + t.Suffix, StringComparison.Ordinal)))
            {
                targets.Add((name, linear));
            }
        }

        if (targets.Count == 0)
        {
            throw new InvalidOperationException($"No Linear layer of the model matches TargetPreset '{preset.Name}'; nothing to adapt with LoRA.");
        }

        // Validate every slot first, then replace: never half-apply.
        var slots = targets.Select(t =>
        {
            var dot = t.Name.LastIndexOf('.');
            var parent = modules[dot < 0 ? string.Empty : t.Name[..dot]];
            var child = t.Name[(dot + 1)..];
            var field = FindField(parent.GetType(), child);
            if (field is null || !field.FieldType.IsAssignableFrom(typeof(LoraLinear)))
            {
                throw new InvalidOperationException(
                    $"'{t.Name}': {parent.GetType().Name} has no field '{child}' that can hold a LoraLinear{(field is null ? string.Empty : $" (it is typed {field.FieldType.Name})")}.");
            }

            return (t.Linear, Parent: parent, Child: child, Field: field);
        }).ToList();

        foreach (var (linear, parent, child, field) in slots)
        {
            var replacement = new LoraLinear(linear, rank, alpha);
            field.SetValue(parent, replacement);
            parent.register_module(child, null!);
            parent.register_module(child, replacement);
        }

        return targets.Select(t => t.Name).ToList();
    }

    private static FieldInfo? FindField(Type? type, string name)
    {
        for (; type is not null; type = type.BaseType)
        {
            if (type.GetField(name, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly) is { } field)
            {
                return field;
            }
        }

        return null;
    }

    /// <summary>The trainable down-projection A, <c>(r, in)</c>.</summary>
    public Parameter A => lora_A;

    /// <summary>The trainable up-projection B, <c>(out, r)</c>.</summary>
    public Parameter B => lora_B;

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var down = nn.functional.linear(input, lora_A);
        using var scaled = down.mul(_scaling);
        using var update = nn.functional.linear(scaled, lora_B);
        using var frozen = base_layer.forward(input);
        return frozen.add(update, One);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _scaling.Dispose();
        }

        base.Dispose(disposing);
    }
}
