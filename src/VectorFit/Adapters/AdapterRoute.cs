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

    // Every bank layer's per-row σ and b, gathered in one cat and one index_select (or one matmul for a mixture) for a whole
    // forward pass instead of four gathers per layer: (rows, total), each layer's σ and b a slice of it. Rebuilt when a layer
    // comes round again (the next forward), when grad mode changes, or when a σ or b it holds changed in place since (checked
    // through libtorch's version counters, so an optimizer step inside the route never leaves stale values). Null until used,
    // and never for a single-adapter route (which gathers nothing) or a bank whose layout cannot be one table.
    private readonly int[]? _tableAdapters;
    private Tensor? _table;
    private bool _tableGrad;
    private bool[]? _used;
    private long[][]? _versions;
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

        if (bank.TableLayout is not null && TensorVersion.IsAvailable && present is not { Length: 1 })
        {
            _tableAdapters = present ?? Enumerable.Range(0, bank.Entries.Count).ToArray();
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
        var table = _tableAdapters is null ? null : TableFor(i);
        var layout = Bank.TableLayout;
        var sigma = table is null ? Gather(e => e.Sigma[i], layer.sigma.dtype) : table.narrow(1, layout![i].Sigma, layer.rank);
        shape[0] = sigma.shape[0];
        shape[^1] = layer.rank;
        var projected = nn.functional.linear(input, layer.InComputeDType(layer.V).t());
        var output = nn.functional.linear(projected.mul(sigma.reshape(shape)), layer.InComputeDType(layer.U));
        if (Bank.Entries[0].Bias[i] is not null)
        {
            var bias = table is null ? Gather(e => e.Bias[i]!, layer.sigma.dtype) : table.narrow(1, layout![i].Bias, layer.out_features);
            shape[0] = bias.shape[0];
            shape[^1] = layer.out_features;
            output = output.add(bias.reshape(shape), HeldScalars.One);
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
        _table?.Dispose();
        _positions?.Dispose();
        _weights?.Dispose();
        _inverse?.Dispose();
        foreach (var group in _groups)
        {
            group.Rows.Dispose();
        }
    }

    private static Tensor Owned(Tensor tensor) => tensor.DetachFromDisposeScope();

    /// <summary>The table of every layer's per-row σ and b, current for layer <paramref name="layer"/> (see <c>_table</c>).</summary>
    private Tensor TableFor(int layer)
    {
        if (_table is null || _used![layer] || _tableGrad != torch.is_grad_enabled() || Changed(layer))
        {
            BuildTable();
        }

        _used![layer] = true;
        return _table!;
    }

    private void BuildTable()
    {
        var entries = Bank.Entries;
        var adapters = _tableAdapters!;
        var layers = Bank.TableLayout!.Length;
        var parts = new List<Tensor>(adapters.Length * layers * 2);
        _versions = new long[layers][];
        for (var i = 0; i < layers; i++)
        {
            _versions[i] = new long[adapters.Length * 2];
        }

        foreach (var (k, a) in adapters.Select((k, a) => (k, a)))
        {
            for (var i = 0; i < layers; i++)
            {
                parts.Add(entries[k].Sigma[i]);
                _versions[i][2 * a] = Version(entries[k].Sigma[i]);
                if (entries[k].Bias[i] is { } bias)
                {
                    parts.Add(bias);
                    _versions[i][(2 * a) + 1] = Version(bias);
                }
            }
        }

        using var scope = torch.NewDisposeScope();
        var flat = torch.cat(parts, 0).view(adapters.Length, -1);
        var table = _present is not null ? flat.index_select(0, _positions!) : _weights!.matmul(flat);
        _table?.Dispose();
        _table = table.DetachFromDisposeScope();
        _tableGrad = torch.is_grad_enabled();
        _used = new bool[layers];
    }

    /// <summary>Whether a σ or b of <paramref name="layer"/> in the table changed in place since it was gathered (or its version cannot be read).</summary>
    private bool Changed(int layer)
    {
        var entries = Bank.Entries;
        var versions = _versions![layer];
        for (var a = 0; a < _tableAdapters!.Length; a++)
        {
            var entry = entries[_tableAdapters[a]];
            if (!Same(entry.Sigma[layer], versions[2 * a]) || (entry.Bias[layer] is { } bias && !Same(bias, versions[(2 * a) + 1])))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Same(Tensor tensor, long gathered) => TensorVersion.TryGet(tensor, out var version) && version == gathered;

    // A tensor whose version cannot be read (an inference tensor) gets a value Same never matches, so the table is rebuilt for it.
    private static long Version(Tensor tensor) => TensorVersion.TryGet(tensor, out var version) ? version : long.MinValue;

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
