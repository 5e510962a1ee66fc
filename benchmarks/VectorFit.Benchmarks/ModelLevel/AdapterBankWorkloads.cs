using TorchSharp;
using VectorFit.Adapters;
using static TorchSharp.torch;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>
/// The adapter-bank workloads the <c>mixed-adapters</c> benchmark and the GPU check (eng/gpu-check, which compiles this file)
/// both time: deterministic adapters, one routed pass, and PEFT's per-adapter loop.
/// </summary>
internal static class AdapterBankWorkloads
{
    /// <summary>Moves every tensor of adapter <paramref name="name"/> by 0.01·N(0, 1)·mean|tensor|, seeded by 1000 + <paramref name="seed"/>.</summary>
    public static void Perturb(AdapterBank bank, string name, int seed)
    {
        using var noGrad = torch.no_grad();
        using var scale = 0.01.ToScalar();
        torch.manual_seed(1000 + seed);
        foreach (var (_, tensor) in bank.GetTensors(name))
        {
            using var noise = torch.randn_like(tensor);
            using var step = noise.mul(scale).mul(tensor.abs().mean());
            tensor.add_(step);
        }
    }

    /// <summary>One pass with each row routed to its adapter (<paramref name="rows"/>: an adapter index per row).</summary>
    public static Tensor Routed(AdapterBank bank, nn.Module<Tensor, Tensor> model, Tensor x, int[] rows)
    {
        using var route = bank.Route(rows);
        return model.forward(x);
    }

    /// <summary>
    /// PEFT's mixed batch: one forward per adapter on its own rows, then the rows put back in order; each group routed to its
    /// adapter alone, or with <paramref name="swap"/> served by <c>Activate</c> and the plain forward.
    /// </summary>
    public static Tensor Loop(AdapterBank bank, nn.Module<Tensor, Tensor> model, Tensor x, int[] rows, bool swap = false)
    {
        using var scope = torch.NewDisposeScope();
        var order = new List<long>();
        var parts = new List<Tensor>();
        foreach (var adapter in rows.Distinct().Order())
        {
            var mine = Enumerable.Range(0, rows.Length).Where(r => rows[r] == adapter).Select(r => (long)r).ToArray();
            order.AddRange(mine);
            var part = x.index_select(0, torch.tensor(mine, device: x.device));
            if (swap)
            {
                bank.Activate(adapter);
                parts.Add(model.forward(part));
            }
            else
            {
                using var route = bank.Route(Enumerable.Repeat(adapter, mine.Length).ToArray());
                parts.Add(model.forward(part));
            }
        }

        var inverse = new long[order.Count];
        for (var j = 0; j < order.Count; j++)
        {
            inverse[order[j]] = j;
        }

        return torch.cat(parts, 0).index_select(0, torch.tensor(inverse, device: x.device)).MoveToOuterDisposeScope();
    }
}
