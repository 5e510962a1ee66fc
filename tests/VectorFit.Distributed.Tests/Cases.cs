using System.Diagnostics;
using TorchSharp;
using VectorFit.Tests.Models;
using static TorchSharp.torch;

namespace VectorFit.Distributed.Tests;

/// <summary>
/// The collective checks, run on every rank in the same order. A check's verdict is agreed over the ranks (it passes only where it
/// passed on every rank); rank 0 prints one line per check and the summary <c>cases: N passed, M failed</c>.
/// </summary>
internal static class Cases
{
    private static readonly TransformerConfigShape Tiny = new(TinyBert.Config, 3);

    public static int Run()
    {
        torch.set_num_threads(1);
        // A failing check can leave the ranks in different collectives; the short timeout turns that into an abort, not a hang.
        using var world = MpiWorld.Initialize(new MpiOptions { Timeout = TimeSpan.FromSeconds(20) });
        if (world.IsRoot)
        {
            Console.WriteLine($"cases: {world.Size} ranks, {world.Library} ({world.LibraryPath}), host {world.HostName}");
        }

        var checks = new (string name, Func<MpiWorld, string?> check)[]
        {
            ("all-reduce is exact (float32 ×35,000, float64, int64; sum, max, min; fused, strided)", ExactAllReduce),
            ("broadcast copies rank 0's tensors (float32, int64, non-contiguous) and parameters (BroadcastParameters)", Broadcast),
            ("parameters identical on every rank after 20 data-parallel steps with AVF (max |difference| = 0)", IdenticalAfterSteps),
            ("2 ranks x half batch = 1 process x full batch within 1e-6 over 20 steps with AVF freezing", HalfBatchEqualsFullBatch),
            ("rank 0 alone writes the adapter; the others wait, and a failure on rank 0 reaches every rank", RootWrites),
            ("different parameter lists on the ranks fail clearly at construction", LayoutMismatch),
            ("a gradient present on one rank only fails with the parameter's name", FrozenSetMismatch),
        };

        int passed = 0, failed = 0;
        foreach (var (name, check) in checks)
        {
            var watch = Stopwatch.StartNew();
            string? failure;
            try
            {
                failure = check(world);
            }
            catch (Exception e)
            {
                failure = $"{e.GetType().Name}: {e.Message}";
            }

            // Agree on the verdict: 1 where this rank passed; the minimum over ranks.
            using var ok = tensor(new long[] { failure is null ? 1 : 0 });
            world.AllReduce(ok, MpiReduceOperation.Min);
            var allPassed = ok.item<long>() == 1;
            if (failure is not null)
            {
                Console.WriteLine($"rank {world.Rank}: FAIL {name}: {failure}");
            }

            if (world.IsRoot)
            {
                Console.WriteLine($"{(allPassed ? "PASS" : "FAIL")} {name} ({watch.ElapsedMilliseconds} ms)");
            }

            if (allPassed)
            {
                passed++;
            }
            else
            {
                failed++;
            }
        }

        if (world.IsRoot)
        {
            Console.WriteLine($"cases: {passed} passed, {failed} failed");
        }

        return failed == 0 ? 0 : 1;
    }

    private static string? ExactAllReduce(MpiWorld world)
    {
        using var scope = NewDisposeScope();
        var r = world.Rank + 1;
        var n = world.Size;
        // Integers below 2^24 are exact in float32, so every sum is exact whatever the order.
        var index = arange(35_000, dtype: ScalarType.Float32);
        var f32 = index.mul(r.ToScalar()).contiguous();
        var expected = index.mul((n * (n + 1) / 2).ToScalar());
        world.AllReduce(f32);
        var gap = f32.sub(expected).abs().max().item<float>();
        if (gap != 0)
        {
            return $"float32 sum differs from the exact sum by {gap}";
        }

        // A fused set of float64 tensors, one of them strided (a transposed view), and int64 max / min.
        var a = full([3, 4], (double)r, dtype: ScalarType.Float64);
        var b = full([4, 2], (double)(10 * r), dtype: ScalarType.Float64).t();
        world.AllReduce([a, b]);
        if (a.min().item<double>() != n * (n + 1) / 2 || a.max().item<double>() != n * (n + 1) / 2
            || b.min().item<double>() != 10 * n * (n + 1) / 2 || b.max().item<double>() != 10 * n * (n + 1) / 2)
        {
            return $"float64 fused sum wrong: a in [{a.min().item<double>()}, {a.max().item<double>()}], b in [{b.min().item<double>()}, {b.max().item<double>()}]";
        }

        var max = tensor(new long[] { r, -r, 1L << 40 });
        var min = tensor(new long[] { r, -r, 1L << 40 });
        world.AllReduce(max, MpiReduceOperation.Max);
        world.AllReduce(min, MpiReduceOperation.Min);
        var maxValues = max.data<long>().ToArray();
        var minValues = min.data<long>().ToArray();
        if (!maxValues.SequenceEqual([n, -1, 1L << 40]) || !minValues.SequenceEqual([1, -n, 1L << 40]))
        {
            return $"int64 max/min wrong: max [{string.Join(", ", maxValues)}], min [{string.Join(", ", minValues)}]";
        }

        return null;
    }

    private static string? Broadcast(MpiWorld world)
    {
        using var scope = NewDisposeScope();
        var r = world.Rank;
        var f = full([5, 7], (float)(r + 0.25), dtype: ScalarType.Float32);
        var i = full([9], (long)(100 + r), dtype: ScalarType.Int64);
        var strided = full([6, 4], (double)(r + 1), dtype: ScalarType.Float64).t();
        world.Broadcast([f, i, strided]);
        var ok = f.eq(full([5, 7], 0.25f)).all().item<bool>() && i.eq(full([9], 100L)).all().item<bool>()
            && strided.eq(ones([4, 6], dtype: ScalarType.Float64)).all().item<bool>();
        if (!ok)
        {
            return $"rank {r} did not receive rank 0's values";
        }

        // DataParallel.BroadcastParameters: trainable parameters (leaves that require grad) take rank 0's values.
        using var p = torch.nn.Parameter(full([3, 2], (float)(r + 1)));
        using var q = torch.nn.Parameter(full([4], (float)(10 * (r + 1))));
        using var parallel = new DataParallel(world, [("p", p), ("q", q)]);
        parallel.BroadcastParameters();
        return p.eq(full([3, 2], 1f)).all().item<bool>() && q.eq(full([4], 10f)).all().item<bool>() && p.requires_grad && parallel.MaxParameterDifference() == 0
            ? null : $"rank {r}: BroadcastParameters did not give rank 0's values";
    }

    private static string? IdenticalAfterSteps(MpiWorld world)
    {
        var avf = new AvfOptions { InitialStep = 5, Interval = 3, AvfSteps = 4, K = 4 };
        using var trainer = new Trainer(Tiny, seed: 11, world, avf);
        var parallel = trainer.Parallel!;
        double localGradientGap = 0;
        for (var step = 1; step <= 20; step++)
        {
            using var scope = NewDisposeScope();
            var (input, labels) = Data.Part(world, Data.Batch(step, Tiny, 8, 5));
            trainer.Step(input, labels, beforeAverage: step == 1 ? () => localGradientGap = GradientGap(world, trainer) : null);
        }

        // The check could fail: the ranks computed different gradients (different data) before averaging.
        if (world.Size > 1 && localGradientGap == 0)
        {
            return "the ranks' local gradients were equal before averaging, so the check proves nothing";
        }

        if (trainer.Avf.FrozenSet.Count != avf.K)
        {
            return $"AVF froze {trainer.Avf.FrozenSet.Count} vectors, expected {avf.K}";
        }

        var difference = parallel.MaxParameterDifference();
        return difference == 0 ? null : $"after 20 steps the parameters differ across ranks by up to {difference}";
    }

    private static double GradientGap(MpiWorld world, Trainer trainer)
    {
        using var scope = NewDisposeScope();
        var grads = cat(trainer.Trainable.Where(p => p.parameter.grad is not null).Select(p => p.parameter.grad!.reshape(-1)).ToList(), 0).to_type(ScalarType.Float64);
        var root = grads.clone();
        world.Broadcast(root);
        root.neg_();
        var gap = grads.add_(root, One).abs_().max().reshape(1).contiguous();
        world.AllReduce(gap, MpiReduceOperation.Max);
        return gap.item<double>();
    }

    private static readonly Scalar One = 1.ToScalar();

    private static string? HalfBatchEqualsFullBatch(MpiWorld world)
    {
        // Model A trains data-parallel (each rank the mean loss over its half of the batch); model B, on each rank, alone on the
        // whole batch. Both start from the same seed and run the same AVF schedule. SGD with momentum, not Adam: Adam divides each
        // gradient by its own magnitude, so a gradient that is zero in exact arithmetic (an attention key bias: softmax ignores a
        // shift) is rounding noise of ~1e-9 that Adam turns into steps of ±lr, and that noise differs between any two ways of summing
        // the batch (two halves or one whole, one thread or two). With SGD the parameters follow the gradients, which agree to ~1e-7.
        var avf = new AvfOptions { InitialStep = 5, Interval = 3, AvfSteps = 4, K = 4 };
        using var parallel = new Trainer(Tiny, seed: 21, world, avf, lr: 0.05, sgdMomentum: 0.9);
        using var single = new Trainer(Tiny, seed: 21, world: null, avf, lr: 0.05, sgdMomentum: 0.9);
        var initial = single.Values();
        double worst = 0;
        for (var step = 1; step <= 20; step++)
        {
            using var scope = NewDisposeScope();
            var batch = Data.Batch(step, Tiny, 8, 5);
            parallel.Step(Data.Part(world, batch).input, Data.Part(world, batch).labels);
            single.Step(batch.input, batch.labels);
            var a = parallel.Values();
            var b = single.Values();
            worst = Math.Max(worst, a.Zip(b, (x, y) => Math.Abs(x - y)).Max());
        }

        var frozenA = parallel.Avf.FrozenSet.Select(v => v.Name).ToList();
        var frozenB = single.Avf.FrozenSet.Select(v => v.Name).ToList();
        if (frozenB.Count != avf.K || !frozenA.SequenceEqual(frozenB))
        {
            return $"frozen sets differ: data-parallel [{string.Join(", ", frozenA)}], single [{string.Join(", ", frozenB)}]";
        }

        var moved = single.Values().Zip(initial, (x, y) => Math.Abs(x - y)).Max();
        if (moved < 1e-3)
        {
            return $"the parameters moved by only {moved}, so the comparison proves nothing";
        }

        Console.WriteLine($"rank {world.Rank}: max |data-parallel - single| over 20 steps = {worst:E2} (parameters moved up to {moved:F3}; frozen: {string.Join(", ", frozenA)})");
        return worst <= 1e-6 ? null : $"data-parallel and single-process parameters differ by up to {worst:E3} (> 1e-6)";
    }

    private static string? RootWrites(MpiWorld world)
    {
        // eng/mpi-tests.sh names a fresh folder per run (the ranks share a host here).
        var folder = Environment.GetEnvironmentVariable("VF_MPI_TEST_DIR") ?? Path.GetTempPath();
        var shared = Path.Combine(folder, "root-writes.safetensors");
        using var trainer = new Trainer(Tiny, seed: 31, world, AvfOptions.None);
        var writer = -1;
        trainer.Parallel!.RunOnRoot(() =>
        {
            File.Delete(shared);
            trainer.Save(shared);
            writer = world.Rank;
        });

        // Every rank (one host) sees the file once RunOnRoot returns; only rank 0 ran the action.
        if (!File.Exists(shared) || new FileInfo(shared).Length == 0)
        {
            return $"rank {world.Rank} does not see the adapter after RunOnRoot";
        }

        if (writer != (world.IsRoot ? 0 : -1))
        {
            return $"rank {world.Rank} ran the root-only action";
        }

        try
        {
            trainer.Parallel.RunOnRoot(() => throw new IOException("disk full (simulated)"));
            return "a failing root action did not throw";
        }
        catch (IOException) when (world.IsRoot)
        {
        }
        catch (InvalidOperationException e) when (!world.IsRoot && e.Message.Contains("Rank 0 failed", StringComparison.Ordinal))
        {
        }

        return null;
    }

    private static string? LayoutMismatch(MpiWorld world)
    {
        using var a = torch.nn.Parameter(zeros(4));
        using var b = torch.nn.Parameter(zeros(world.IsRoot ? 3 : 5));
        try
        {
            using var parallel = new DataParallel(world, [("a", a), ("b", b)]);
            return world.Size == 1 ? null : "no error";
        }
        catch (InvalidOperationException e) when (e.Message.Contains("different trainable parameters", StringComparison.Ordinal))
        {
            return null;
        }
    }

    private static string? FrozenSetMismatch(MpiWorld world)
    {
        if (world.Size == 1)
        {
            return null;
        }

        using var a = torch.nn.Parameter(ones(4));
        using var b = torch.nn.Parameter(ones(2));
        using var parallel = new DataParallel(world, [("encoder.a.sigma", a), ("encoder.b.sigma", b)]);
        a.grad = ones(4);
        b.grad = world.IsRoot ? ones(2) : null;
        try
        {
            parallel.AverageGradients();
            return "no error";
        }
        catch (InvalidOperationException e) when (e.Message.Contains("'encoder.b.sigma' has a gradient on 1 of 2 ranks", StringComparison.Ordinal))
        {
            return null;
        }
    }
}
