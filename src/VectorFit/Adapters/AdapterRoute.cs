using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit.Adapters;

/// <summary>
/// The per-thread routing of one batch through an <see cref="AdapterBank"/>: each row's adapter (or mixture of adapters), read by
/// the bank's <see cref="VectorFitLinear"/> layers and heads while the scope is open. Made by <see cref="AdapterBank.Route(int[])"/>.
/// </summary>
internal sealed class AdapterRoute : IDisposable
{
    [ThreadStatic]
    private static AdapterRoute? t_current;

    private readonly AdapterRoute? _previous;
    private readonly int _thread = Environment.CurrentManagedThreadId;

    // Index route: the adapters present (ascending) and each row's place among them; null for a mixture.
    private readonly int[]? _present;
    private readonly Tensor? _positions;

    // Mixture route: (rows, K) weights in the bank's dtype and device; null for an index route.
    private readonly Tensor? _weights;

    // Rows with the same adapter (or the same mixture), for the heads: the rows, and the adapter or the weights.
    private readonly List<(Tensor Rows, int Adapter, double[]? Weights)> _groups = new();
    private readonly Tensor? _inverse;
    private bool _disposed;

    private AdapterRoute(AdapterBank bank, long rows, int[]? present, long[]? positions, Tensor? weights, List<(long[] Rows, int Adapter, double[]? Weights)> groups)
    {
        Bank = bank;
        Rows = rows;
        var device = bank.Entries[0].Sigma[0].device;
        _present = present;
        _positions = positions is null ? null : Owned(torch.tensor(positions, device: device));
        _weights = weights;
        foreach (var (groupRows, adapter, groupWeights) in groups)
        {
            _groups.Add((Owned(torch.tensor(groupRows, device: device)), adapter, groupWeights));
        }

        if (groups.Count > 1)
        {
            var order = groups.SelectMany(g => g.Rows).ToArray();
            var inverse = new long[order.Length];
            for (var j = 0; j < order.Length; j++)
            {
                inverse[order[j]] = j;
            }

            _inverse = Owned(torch.tensor(inverse, device: device));
        }

        _previous = t_current;
        t_current = this;
    }

    /// <summary>The route open on this thread, if any.</summary>
    public static AdapterRoute? Current => t_current;

    /// <summary>The bank whose layers and heads the route is for.</summary>
    public AdapterBank Bank { get; }

    /// <summary>The batch size: every routed input's first dimension.</summary>
    public long Rows { get; }

    /// <summary>A route giving row <c>i</c> the adapter <c>indices[i]</c> (checked by the bank).</summary>
    public static AdapterRoute ForIndices(AdapterBank bank, IReadOnlyList<int> indices)
    {
        var present = indices.Distinct().Order().ToArray();
        var place = present.Select((adapter, i) => (adapter, i)).ToDictionary(p => p.adapter, p => (long)p.i);
        var groups = present
            .Select(adapter => (Enumerable.Range(0, indices.Count).Where(r => indices[r] == adapter).Select(r => (long)r).ToArray(), adapter, (double[]?)null))
            .ToList();
        return new AdapterRoute(bank, indices.Count, present, indices.Select(a => place[a]).ToArray(), null, groups);
    }

    /// <summary>A route giving row <c>i</c> the mixture <c>Σ_k weights[i, k]·(σ_k, b_k, head_k)</c> (checked by the bank).</summary>
    public static AdapterRoute ForMixture(AdapterBank bank, double[][] rows, Tensor weights)
    {
        var groups = new List<(long[], int, double[]?)>();
        var seen = new List<(double[] Weights, List<long> Rows)>();
        for (var r = 0; r < rows.Length; r++)
        {
            var match = seen.FindIndex(s => s.Weights.SequenceEqual(rows[r]));
            if (match < 0)
            {
                seen.Add((rows[r], new List<long>()));
                match = seen.Count - 1;
            }

            seen[match].Rows.Add(r);
        }

        groups.AddRange(seen.Select(s => (s.Rows.ToArray(), -1, (double[]?)s.Weights)));
        return new AdapterRoute(bank, rows.Length, null, null, weights, groups);
    }

    /// <summary>
    /// The routed evaluation of a bank layer, <c>((x·V) ⊙ σ[row])·Uᵀ + b[row]</c>, or <c>null</c> when the layer is not the bank's.
    /// </summary>
    public Tensor? Evaluate(VectorFitLinear layer, Tensor input)
    {
        var i = Bank.LayerIndex(layer);
        if (i < 0)
        {
            return null;
        }

        CheckRows(input, $"the adapted layer {Bank.LayerName(i)}");
        using var scope = torch.NewDisposeScope();
        var shape = Enumerable.Repeat(1L, (int)input.dim()).ToArray();
        var sigma = Gather(e => e.Sigma[i], layer.sigma.dtype);
        shape[0] = sigma.shape[0];
        shape[^1] = layer.rank;
        var projected = nn.functional.linear(input, layer.V.t());
        var output = nn.functional.linear(projected.mul(sigma.view(shape)), layer.U);
        if (Bank.Entries[0].Bias[i] is not null)
        {
            var bias = Gather(e => e.Bias[i]!, layer.sigma.dtype);
            shape[0] = bias.shape[0];
            shape[^1] = layer.out_features;
            output = output.add(bias.view(shape), HeldScalars.One);
        }

        return output.MoveToOuterDisposeScope();
    }

    /// <summary>A head on a routed batch: each group of rows through the head with its adapter's (or mixture's) tensors.</summary>
    public Tensor EvaluateHead(string headName, nn.Module<Tensor, Tensor> head, Tensor input)
    {
        CheckRows(input, $"the head '{headName}'");
        var slots = Enumerable.Range(0, Bank.Slots.Count).Where(s => Bank.Slots[s].Head == headName).ToList();
        var problems = slots.Where(s => Bank.Slots[s].Fields.Length == 0).Select(s => Bank.Slots[s].Key).ToList();
        if (problems.Count > 0)
        {
            throw new InvalidOperationException(
                $"Cannot route the rows of a batch through the head '{headName}': {string.Join(", ", problems)} is held in no field of its module, so the bank " +
                "cannot point it at each adapter's tensor. Keep the head's parameters in fields (as TorchSharp's own modules do).");
        }

        using var scope = torch.NewDisposeScope();
        var parts = new List<Tensor>();
        foreach (var (rows, adapter, weights) in _groups)
        {
            var x = _groups.Count == 1 ? input : input.index_select(0, rows);
            try
            {
                foreach (var s in slots)
                {
                    Bank.Slots[s].Point(weights is null ? Bank.Entries[adapter].Head[s] : MixedHeadTensor(s, weights));
                }

                parts.Add(head.forward(x));
            }
            finally
            {
                foreach (var s in slots)
                {
                    Bank.Slots[s].Restore();
                }
            }
        }

        var output = parts.Count == 1 ? parts[0] : torch.cat(parts, 0).index_select(0, _inverse!);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>Closes the route: the thread returns to the route open before it (or none).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        if (Environment.CurrentManagedThreadId != _thread || !ReferenceEquals(t_current, this))
        {
            throw new InvalidOperationException(
                "An adapter route is closed on another thread, or before a route opened inside it: dispose routes on the thread that opened them, innermost first (a using block does).");
        }

        _disposed = true;
        t_current = _previous;
        _positions?.Dispose();
        _weights?.Dispose();
        _inverse?.Dispose();
        foreach (var group in _groups)
        {
            group.Rows.Dispose();
        }
    }

    private static Tensor Owned(Tensor tensor) => tensor.DetachFromDisposeScope();

    private Tensor Gather(Func<BankEntry, Tensor> pick, ScalarType dtype)
    {
        var entries = Bank.Entries;
        if (_present is { Length: 1 })
        {
            return pick(entries[_present[0]]).unsqueeze(0);
        }

        if (_present is not null)
        {
            return torch.stack(_present.Select(k => pick(entries[k])).ToArray()).index_select(0, _positions!);
        }

        var table = torch.stack(entries.Select(pick).ToArray());
        return (_weights!.dtype == dtype ? _weights : _weights.to(dtype)).matmul(table);
    }

    private Parameter MixedHeadTensor(int slot, double[] weights)
    {
        var table = torch.stack(Bank.Entries.Select(e => e.Head[slot]).ToArray());
        var shape = Enumerable.Repeat(1L, (int)table.dim()).ToArray();
        shape[0] = weights.Length;
        var w = torch.tensor(weights, dtype: table.dtype, device: table.device).view(shape);
        var mixed = table.mul(w).sum(dim: 0);
        return new Parameter(mixed, requires_grad: mixed.requires_grad);
    }

    private void CheckRows(Tensor input, string where)
    {
        if (input.dim() < 2 || input.shape[0] != Rows)
        {
            throw new InvalidOperationException(
                $"The adapter route has {Rows} rows (one adapter per row of the batch), but {where} got an input of shape [{string.Join(", ", input.shape)}]. " +
                "A routed model must keep the batch in the first dimension of every adapted layer's and head's input; route the batch the model's forward receives.");
        }
    }
}
