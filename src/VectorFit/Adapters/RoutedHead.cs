using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Adapters;

/// <summary>
/// Stands in for a head module (a <c>ModulesToSave</c> entry) while an <see cref="AdapterBank"/> is open: it registers the head's
/// own parameters, buffers and children under their names, so the model's state_dict keys, parameters and optimizers see the
/// same tensors, and its forward gives each row of a routed batch its adapter's head.
/// </summary>
internal sealed class RoutedHead : nn.Module<Tensor, Tensor>
{
    // Held through a plain object: TorchSharp registers Module-typed fields of a module by itself, which would add the head
    // again under "_inner" (its tensors are registered under their own names below).
    private readonly Holder _held;
    private readonly AdapterBank _bank;

    private readonly string _headName;

    public RoutedHead(string headName, nn.Module<Tensor, Tensor> inner, AdapterBank bank)
        : base(inner.GetName())
    {
        _headName = headName;
        _held = new Holder(inner);
        _bank = bank;
        var persistent = inner.state_dict().Keys.ToHashSet(StringComparer.Ordinal);
        foreach (var (name, parameter) in inner.named_parameters(recurse: false))
        {
            register_parameter(name, parameter);
        }

        foreach (var (name, buffer) in inner.named_buffers(recurse: false))
        {
            register_buffer(name, buffer, persistent.Contains(name));
        }

        foreach (var (name, child) in inner.named_children())
        {
            register_module(name, child);
        }

        if (!inner.training)
        {
            eval();
        }
    }

    /// <summary>The head: per adapter on its rows when a route of this bank is open, otherwise the model's head as it is.</summary>
    public override Tensor forward(Tensor input)
        => AdapterRoute.Current is { } route && route.Bank == _bank ? route.EvaluateHead(_headName, _held.Head, input) : _held.Head.forward(input);

    /// <inheritdoc />
    public override void train(bool on = true)
    {
        _held.Head.train(on);
        base.train(on);
    }

    private sealed record Holder(nn.Module<Tensor, Tensor> Head);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        // The head's tensors and children belong to the head module, which the bank puts back: nothing here is disposed.
    }
}
