namespace GlueFineTune.Cli;

/// <summary>The text of <c>--help</c>.</summary>
internal static class HelpText
{
    /// <summary>The full help.</summary>
    public const string Text = """
        GlueFineTune — fine-tune BERT or DeBERTa-v3 on GLUE with VectorFit + Adaptive Vector Freezing
        (arXiv 2503.19530): only the singular values σ and biases b of q, k, v, o, f1, f2 train, plus the task head.

        Usage:
          GlueFineTune --demo [--output DIR] [--threads N]
          GlueFineTune --task TASK --data GLUE_DIR --model CHECKPOINT_DIR --output DIR [options]
          GlueFineTune --train FILE --dev FILE --model CHECKPOINT_DIR --output DIR [options]   (your own data)
          GlueFineTune --train NAME=FILE --dev NAME=FILE [--train NAME=FILE --dev NAME=FILE ...] --model CHECKPOINT_DIR
                       --output DIR [options]        (multi-task: one adapter per task on one base, mixed batches)
          GlueFineTune ...same options... --resume
          GlueFineTune predict --model CHECKPOINT_DIR --adapter NAME=FILE [--adapter NAME=FILE ...] --input FILE
                       --output FILE                 (several adapters, mixed-task rows in one batch; predict --help)
          GlueFineTune import-onnx --assembly FILE.dll | --onnx MODEL.onnx --vocab vocab.txt --out DIR
                              (a BERT-family ONNX export to a checkpoint folder for --model; import-onnx --help)

        Required for a GLUE run:
          --task NAME         MNLI, SST-2, CoLA, QQP, QNLI, RTE, MRPC or STS-B (case and dashes ignored)
          --data DIR          the GLUE folder holding MNLI/, SST-2/, … with train.tsv and dev.tsv (MNLI: dev_matched.tsv)
          --model DIR         a Hugging Face checkpoint folder: config.json, model.safetensors, and vocab.txt
                              (BERT, e.g. bert-base-uncased) or spm.model (DeBERTa-v3, e.g. microsoft/deberta-v3-base)
          --output DIR        where the adapter, metrics.json, the AVF report and the resumable checkpoint go

        Your own data (instead of --task/--data; defaults: 3 epochs, batch 32, lr 1e-3, AVF from min(11 epochs, 40% of training) every min(1 epoch, 10%)):
          --train FILE        labelled training examples: .tsv (header row, tabs, no quoting), .csv (header row,
          --dev FILE          RFC 4180 quoting) or .jsonl (one JSON object per line); labels as names or numbers
          --text-column NAME  the text (default: the first of text, sentence, sentence1, question, premise)
          --text-pair-column NAME  a second text for pair tasks (default: text_pair, sentence2 or hypothesis if present)
          --label-column NAME the label (default: label, labels or score)
          --regression        the label is a number to predict (MSE; Pearson and Spearman) instead of a class
                              (accuracy, macro F1, MCC and F1 per class in metrics.json)

        Multi-task training (--train and --dev repeated as NAME=FILE, one pair per task, two or more tasks):
          --train NAME=FILE   a task's training examples (same formats and columns as above); NAME names its adapter
          --dev NAME=FILE     that task's dev set, evaluated on its own at each epoch end
                              One adapter (σ, b, head) per task on one base model, trained together: each epoch shuffles
                              the union of the tasks' examples, so a batch mixes tasks; the loss is the sum over the tasks
                              present of the mean loss of their rows, and each task has its own AdamW, stepped only in the
                              batches that hold its rows. The options below are shared (the custom-data defaults); AVF runs
                              per adapter (VectorFit, the default variant) on that adapter's own steps, the batches with its
                              rows (--t-i/--t-f count them; --avf-start-epoch uses its steps per epoch); --variant no-avf
                              turns it off. Every task needs the same number of classes, and all tasks single texts or all
                              pairs. Not with --task, --data, --demo, --method svft|full, --regression, --resume or
                              --distributed. Writes OUTPUT/NAME/ per task: adapter.safetensors (with its AVF steps),
                              adapter.labels.json, metrics.json and the AVF strength files; use them with predict.

        Training (defaults: the paper's Table 7 for the task — batch 32, lr 1e-3, its epochs and AVF schedule):
          --method NAME       vectorfit (default) | svft (SVFT: M on --svft-pattern and b; σ frozen, no AVF) | full
                              (every weight: the baseline the papers compare with; default --lr 2e-5) — same
                              data, same outputs
          --svft-pattern P    SVFT's trained entries of M: plain | banded:D (default banded:2) | random:D | topk:D
          --factor-dtype NAME float32 (default: U and V in the weights' dtype) | bfloat16 | float16 — store the frozen
                              U and V narrower (half their memory; σ, b and the arithmetic stay float32); --method
                              vectorfit only; the adapter records it
          --variant NAME      vectorfit (default: σ, b of q,k,v,o,f1,f2 with AVF) | no-avf | sigma-a-b (Σa + b)
                              | sigma (Σ) | sigma-a (Σa) — the paper's ablations (§6.3)
          --pooling NAME      pooler (default: the checkpoint's pooler on [CLS], trained with the head; a missing
                              one is initialised) | cls ([CLS] hidden state) | mean (mean over the tokens: what
                              sentence-transformers models such as all-MiniLM-L6-v2 were trained with); a folder
                              with sentence-transformers' 1_Pooling/config.json (import-onnx writes one) defaults to it
          --epochs N          training epochs
          --batch-size N      training batch size
          --eval-batch-size N dev batch size (default 64)
          --lr X              AdamW learning rate (β 0.9/0.999, no weight decay, no warmup)
          --lr-schedule NAME  linear (default: decays to 0 at the last step) | constant
          --max-length N      longest input in tokens, special tokens included (default 128; pairs are truncated
                              longest first)
          --seed N            seed of the head's initialisation, data order and dropout (default 42)
          --max-steps N       stop after N optimizer steps (a quick trial)
          --max-train-examples N  use only the first N training examples (a quick trial)

        Adaptive Vector Freezing (VectorFit variant; defaults from Table 7):
          --t-i N             step of the first AVF step
          --t-f N             steps between AVF steps
          --n-f N             number of AVF steps (0 turns AVF off)
          --k N               vectors frozen at each AVF step (default 5)
          --avf-start-epoch X the first AVF step in epochs, e.g. 1.5 (instead of --t-i/--t-f; carries the presets'
          --avf-every-epochs X  idea to small data sets); epochs between AVF steps (default 1); n_f is capped to
                              the AVF steps that fit

        Other:
          --resume            continue from OUTPUT/checkpoint exactly where the run stopped (Ctrl+C, a crash or an
                              epoch end leave one); pass the same options as the first run (only --lr may differ, e.g. lower after
                              a divergence). Every checkpoint file is verified before anything is restored
          --demo              no download needed: builds a tiny BERT checkpoint, pre-trains it for a few seconds
                              (masked-language modelling plus a narrower source task: sentiment with half of
                              the sentiment words held out), then fine-tunes it with VectorFit + AVF on the
                              built-in sentiment task and reports dev accuracy against chance
                              (default output: runs/demo under the current folder, printed first)
          --threads N         libtorch CPU threads (default: libtorch's choice; the demo uses 1; --distributed:
                              max(1, this machine's cores / its ranks))
          --distributed       data-parallel over MPI, one process per rank: mpirun -np N dotnet GlueFineTune.dll
                              ... --distributed. --batch-size stays the global batch: each rank takes its contiguous
                              part of every batch, gradients are averaged before each step (the same steps as one
                              process, up to float32 round-off); dev evaluation is split across the ranks; rank 0
                              alone writes --output (give every rank the same --output folder, shared across
                              machines, so that --resume reads the same checkpoint on every rank)
          --version           the VectorFit, TorchSharp and libtorch this program runs on (loaded, not as built)
          -h, --help          this text

        Outputs in --output: adapter.safetensors (the adapter; --method full: finetuned.safetensors, every weight),
        metrics.json (dev metrics per epoch), checkpoint/ (for --resume), and for --method vectorfit avf_strength.csv
        and avf_strength.svg (training strength per vector type × layer, like the paper's Figure 3) and
        avf_vectors.csv (one line per vector).

        predict (GlueFineTune predict --help for its options): loads the base once and several adapters (--adapter NAME=FILE,
        from a single-task run's OUTPUT/adapter.safetensors or a multi-task run's OUTPUT/NAME/adapter.safetensors), reads
        rows that name their task (--task-column, default task), predicts them in mixed-task batches and writes
        .jsonl or .csv predictions.

        Exit codes: 0 done, 1 error, 2 bad command line, 130 interrupted (checkpoint saved; multi-task runs save nothing yet).
        """;
}
